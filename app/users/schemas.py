"""Request and response bodies of the users endpoints."""

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.email_address import EmailAddress
from app.outbox.schemas import OutboxEntryRead
from app.text_input import StorableText
from app.users.models import NAME_MAX_LENGTH
from app.users.passwords import PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS

REGISTERED_MESSAGE = (
    "Registration successful. Please check your email to verify your account."
)
VERIFIED_MESSAGE = "Email verified successfully"
# One answer for every resend, whatever the address: it must not reveal accounts.
RESEND_MESSAGE = (
    "If an unverified account exists for this address, "
    "a new verification link is on its way"
)

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    StorableText(),
]


class UserCreate(BaseModel):
    """What ``POST /register`` accepts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "ada@example.com",
                    "password": "correct horse battery",
                    "name": "Ada Lovelace",
                }
            ]
        }
    )

    email: EmailAddress
    password: Annotated[str, StorableText()] = Field(
        min_length=PASSWORD_MIN_CHARS,
        max_length=PASSWORD_MAX_BYTES,  # more characters are always more bytes
        description=(
            f"At least {PASSWORD_MIN_CHARS} characters and at most "
            f"{PASSWORD_MAX_BYTES} bytes in UTF-8 (bcrypt's limit)"
        ),
    )
    name: Name

    @field_validator("password")
    @classmethod
    def _password_fits_bcrypt(cls, value: str) -> str:
        # Messages never include the value: the 422 body must not echo a password.
        if len(value.encode()) > PASSWORD_MAX_BYTES:
            raise ValueError(
                f"Password must be at most {PASSWORD_MAX_BYTES} bytes in UTF-8 "
                "(accented letters count 2 bytes, emoji 4)"
            )
        return value


class UserRegistered(BaseModel):
    """What ``POST /register`` answers (201)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": 1, "message": REGISTERED_MESSAGE}]}
    )

    user_id: int
    message: str


class EmailVerified(BaseModel):
    """What ``POST /verify`` answers (200)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": VERIFIED_MESSAGE}]}
    )

    message: str


class VerificationResend(BaseModel):
    """What ``POST /verification/resend`` accepts."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com"}]}
    )

    email: EmailAddress


class ResendAccepted(BaseModel):
    """What ``POST /verification/resend`` answers (202), whatever the address."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": RESEND_MESSAGE}]}
    )

    message: str


class UserRead(BaseModel):
    """A user as ``GET /users/{user_id}`` shows them (no password hash, ever)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 1,
                    "email": "ada@example.com",
                    "name": "Ada Lovelace",
                    "verified": True,
                    "notifications": [
                        {
                            "message_id": 3,
                            "kind": "email",
                            "topic": "email_verification",
                            "status": "sent",
                            "attempts": 1,
                            "created_at": "2026-11-30T10:00:00.120000Z",
                            "sent_at": "2026-11-30T10:00:00.180000Z",
                            "last_error": None,
                        },
                        {
                            "message_id": 4,
                            "kind": "email",
                            "topic": "welcome",
                            "status": "sent",
                            "attempts": 1,
                            "created_at": "2026-11-30T10:01:12.410000Z",
                            "sent_at": "2026-11-30T10:01:12.450000Z",
                            "last_error": None,
                        },
                    ],
                }
            ]
        },
    )

    user_id: int
    email: str
    name: str
    verified: bool
    notifications: list[OutboxEntryRead] = Field(
        default_factory=list,
        description="The user's e-mails (and alerts about them), oldest first, and "
        "whether each was delivered: pending, sent or failed",
    )
