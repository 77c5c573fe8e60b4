"""Users and their e-mail verification tokens."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

EMAIL_MAX_LENGTH = 254  # RFC 5321 path limit; email-validator enforces it too
NAME_MAX_LENGTH = 100


class User(Base):
    """A registered person; ``verified`` once they used their e-mail link."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # As typed (after email-validator's normalisation), shown back to the user.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    # Case-folded copy carrying the UNIQUE constraint: the database, not a
    # check-then-insert, decides which of two concurrent registrations wins.
    email_normalized: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the newest verification link was issued: the resend rate limit compares
    # against it in one conditional UPDATE (NULL for accounts from before the column).
    verification_sent_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )

    @property
    def verified(self) -> bool:
        """Whether the e-mail address was confirmed."""
        return self.verified_at is not None


class UserVerificationToken(Base):
    """One e-mailed verification link; only the SHA-256 of the token is stored."""

    __tablename__ = "user_verification_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set when a newer link replaced this one (POST /verification/resend): it stops working.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
