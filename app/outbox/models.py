"""Outbox rows: one promised e-mail, warehouse notification or alert each."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow


class OutboxKind(StrEnum):
    EMAIL = "email"
    WAREHOUSE = "warehouse"
    ALERT = "alert"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Replaced by a newer row before it was sent (a resent verification link).
    SUPERSEDED = "superseded"


class OutboxMessage(Base):
    """A side effect to deliver at least once (the receiver dedupes on the row id)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        # The sweeper's question: which pending rows are due?
        Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
        # GET /orders/{id} and /users/{id} show their rows.
        Index("ix_outbox_message_subject", "subject_type", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # What the message is about for a reader: the e-mail template, "shipment", "alert".
    topic: Mapped[str] = mapped_column(String(50))
    subject_type: Mapped[str | None] = mapped_column(String(20), default=None)
    subject_id: Mapped[int | None] = mapped_column(BigId, default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while one delivery is in flight; a crashed delivery's lease simply runs out.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
