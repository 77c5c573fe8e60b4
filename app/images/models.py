"""The image record: one row per upload, from processing to ready or failed."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow


class ImageStatus(StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ImageRecord(Base):
    __tablename__ = "image"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # the demo has no authentication: user_id is taken as given, as in the seed
    user_id: Mapped[int] = mapped_column(BigId, index=True)
    status: Mapped[str] = mapped_column(String(16), default=ImageStatus.PROCESSING)
    filename: Mapped[str] = mapped_column(String(255))  # sanitized, metadata only
    format: Mapped[str] = mapped_column(String(8))  # sniffed from the bytes
    size_bytes: Mapped[int]
    width: Mapped[int | None]
    height: Mapped[int | None]
    original_url: Mapped[str | None] = mapped_column(String(2048))
    optimized_url: Mapped[str | None] = mapped_column(String(2048))
    thumbnail_url: Mapped[str | None] = mapped_column(String(2048))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    # The app run processing it (images.owner): a restart fails only dead runs' uploads.
    owner: Mapped[str | None] = mapped_column(String(16), default=None)
