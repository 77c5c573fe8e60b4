"""How outbox rows are shown to readers (never their payload: it holds addresses)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.outbox.models import OutboxKind, OutboxMessage, OutboxStatus

ENTRY_EXAMPLE: dict[str, Any] = {
    "message_id": 7,
    "subject_type": "order",
    "subject_id": 1,
    "kind": "email",
    "topic": "order_confirmation",
    "status": "sent",
    "attempts": 1,
    "created_at": "2026-11-30T10:00:00.120000Z",
    "sent_at": "2026-11-30T10:00:00.180000Z",
    "last_error": None,
}


class OutboxEntryRead(BaseModel):
    """One promised side effect and how its delivery went."""

    model_config = ConfigDict(json_schema_extra={"examples": [ENTRY_EXAMPLE]})

    message_id: int
    subject_type: str | None = None
    subject_id: int | None = None
    kind: OutboxKind
    topic: str
    status: OutboxStatus
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, message: OutboxMessage) -> "OutboxEntryRead":
        return cls(
            message_id=message.id,
            subject_type=message.subject_type,
            subject_id=message.subject_id,
            kind=OutboxKind(message.kind),
            topic=message.topic,
            status=OutboxStatus(message.status),
            attempts=message.attempts,
            created_at=message.created_at,
            sent_at=message.sent_at,
            last_error=message.last_error,
        )


class OutboxRead(BaseModel):
    """The outbox at a glance: how many rows are in each state, and the newest rows."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "counts": {"pending": 0, "sent": 41, "failed": 1},
                    "messages": [ENTRY_EXAMPLE],
                }
            ]
        }
    )

    counts: dict[OutboxStatus, int]
    messages: list[OutboxEntryRead]
