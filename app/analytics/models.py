"""The database fallback for batches the analytics service did not accept."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow


class AnalyticsEvent(Base):
    """One event saved because its batch could not be delivered."""

    __tablename__ = "analytics_event"
    __table_args__ = (
        Index("ix_analytics_event_user_id_occurred_at", "user_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(BigId)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
