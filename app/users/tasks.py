"""Background work of the users domain: e-mails. Keyword-only, ids and values in."""

from app.clients._base import RETRYABLE
from app.clients.email_service import EmailServiceClient

# Retries are task configuration (see the router), not a loop in an error handler.
EMAIL_RETRIES = 3
EMAIL_RETRY_BACKOFF = 2.0
# A refused message (RequestRejectedError, a final 4xx) is not retried: it cannot pass.
EMAIL_RETRY_ON = RETRYABLE


async def send_verification_email(
    *, email: EmailServiceClient, to: str, name: str, verification_url: str
) -> None:
    """Send the link that verifies ``to`` (the URL carries the only plaintext token)."""
    await email.send(
        to=to,
        subject="Verify your email",
        template="email_verification",
        data={"name": name, "verification_url": verification_url},
    )


async def send_welcome_email(*, email: EmailServiceClient, to: str, name: str) -> None:
    """Greet a user whose address was just verified."""
    await email.send(
        to=to,
        subject="Welcome to Our App!",
        template="welcome",
        data={"name": name},
    )
