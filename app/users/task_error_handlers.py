"""What happens once a users task has failed for good. Handlers never raise."""

import logging

import httpx

from app.clients.alerts import AlertClient
from fastapi_tasks import Task

logger = logging.getLogger(__name__)


def describe_failure(error: BaseException) -> str:
    """The exception type (and HTTP status), never its message: messages carry URLs."""
    if isinstance(error, httpx.HTTPStatusError):
        return f"{type(error).__name__}, HTTP {error.response.status_code}"
    return type(error).__name__


async def on_verification_email_failed(
    task: Task, error: Exception, *, user_id: int, alerts: AlertClient
) -> None:
    """Runs once after the last attempt: log it and send one alert to the operators.

    Without the e-mail the user cannot verify, so a person has to know.
    """
    reason = describe_failure(error)
    logger.error(
        "%s: verification e-mail for user %s failed after %s attempts (%s)",
        task.name,
        user_id,
        task.attempts,
        reason,
    )
    text = (
        f"Verification e-mail for user {user_id} could not be sent "
        f"after {task.attempts} attempts ({reason})"
    )
    try:
        await alerts.send(text=text, severity="error", source="users")
    except Exception as exc:  # a handler never raises; the log line above remains
        logger.warning(
            "alert about user %s was not delivered (%s)",
            user_id,
            describe_failure(exc),
        )
