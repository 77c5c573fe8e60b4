"""Background work of the users domain: e-mails. Keyword-only, ids and values in."""

import httpx

from app.clients.email_service import EmailServiceClient

# Retries are task configuration (see the router), not a loop in an error handler.
EMAIL_RETRIES = 3
EMAIL_RETRY_BACKOFF = 2.0
# Network trouble and 5xx/408/429 answers may pass; see EmailRejectedError for the rest.
EMAIL_RETRY_ON: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    httpx.HTTPStatusError,
)

_RETRYABLE_4XX = frozenset({408, 425, 429})


class EmailRejectedError(Exception):
    """The e-mail service refused the message (4xx): sending it again will not help."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"e-mail service refused the message (HTTP {status_code})")
        self.status_code = status_code


async def send_verification_email(
    *, email: EmailServiceClient, to: str, name: str, verification_url: str
) -> None:
    """Send the link that verifies ``to`` (the URL carries the only plaintext token)."""
    await _send(
        email,
        to=to,
        subject="Verify your email",
        template="email_verification",
        data={"name": name, "verification_url": verification_url},
    )


async def send_welcome_email(*, email: EmailServiceClient, to: str, name: str) -> None:
    """Greet a user whose address was just verified."""
    await _send(
        email,
        to=to,
        subject="Welcome to Our App!",
        template="welcome",
        data={"name": name},
    )


async def _send(
    email: EmailServiceClient,
    *,
    to: str,
    subject: str,
    template: str,
    data: dict[str, str],
) -> None:
    try:
        await email.send(to=to, subject=subject, template=template, data=data)
    except httpx.HTTPStatusError as exc:
        status_code = exc.response.status_code
        if status_code < 500 and status_code not in _RETRYABLE_4XX:
            raise EmailRejectedError(status_code) from None
        raise
