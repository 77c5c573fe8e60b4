"""What happens when image processing fails: cleanup, a failed record, a log line."""

import logging

import httpx

from app.db import SessionFactory
from app.images import service, storage
from app.images.processing import InvalidImageError
from app.images.storage import UploadPaths
from fastapi_tasks import Task

logger = logging.getLogger(__name__)


async def on_process_upload_failed(
    task: Task,
    error: Exception,
    *,
    image_id: int,
    paths: UploadPaths,
    sessions: SessionFactory,
) -> None:
    """Remove the temporary files, mark the image failed; never raises.

    The context (id, paths) is bound with ``functools.partial`` where the task is
    scheduled, instead of digging in ``task.args[1]`` as the seed does.
    """
    await storage.remove_files(*paths.all())
    try:
        async with sessions() as session:
            await service.mark_failed(session, image_id, error=describe_failure(error))
    except Exception as exc:  # the handler must never raise
        logger.error(
            "%s: could not mark image %s failed (%s)",
            task.name,
            image_id,
            type(exc).__name__,
        )
    logger.warning(
        "%s: image %s failed (%s)", task.name, image_id, type(error).__name__
    )


def describe_failure(error: BaseException) -> str:
    """A short message for the image record: the exception type and text that is safe.

    Free text of arbitrary exceptions can hold file paths or URLs with keys, so only
    known types contribute text.
    """
    name = type(error).__name__
    reason = _safe_reason(error)
    return f"{name}: {reason}"


def _safe_reason(error: BaseException) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"the CDN answered {error.response.status_code}"
    if isinstance(error, httpx.TimeoutException):
        return "the CDN did not answer in time"
    if isinstance(error, httpx.TransportError):
        return "the CDN could not be reached"
    if isinstance(error, InvalidImageError):
        return error.reason
    if isinstance(error, OSError):
        return "the image could not be read or written"
    return "image processing failed"
