"""How outbox rows are shown to readers (never their payload: it holds addresses)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.outbox.models import OutboxKind, OutboxMessage, OutboxStatus


class OutboxEntryRead(BaseModel):
    """One promised side effect and how its delivery went."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": 7,
                    "kind": "email",
                    "topic": "order_confirmation",
                    "status": "sent",
                    "attempts": 1,
                    "created_at": "2026-11-30T10:00:00.120000Z",
                    "sent_at": "2026-11-30T10:00:00.180000Z",
                    "last_error": None,
                }
            ]
        }
    )

    message_id: int
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
            kind=OutboxKind(message.kind),
            topic=message.topic,
            status=OutboxStatus(message.status),
            attempts=message.attempts,
            created_at=message.created_at,
            sent_at=message.sent_at,
            last_error=message.last_error,
        )
