"""The background work of an upload: render, upload to the CDN, record, clean up, track."""

import functools
import logging
from pathlib import Path

import anyio
import anyio.to_thread

from app.analytics.tracking import EventTracker
from app.clients.cdn import CdnClient
from app.db import SessionFactory
from app.images import processing, service, storage
from app.images.storage import UploadPaths

logger = logging.getLogger(__name__)

CANCELLED_ERROR = "Cancelled: the service shut down before processing finished"


async def process_upload(
    *,
    image_id: int,
    user_id: int,
    paths: UploadPaths,
    original_format: str,
    cdn: CdnClient,
    sessions: SessionFactory,
    tracker: EventTracker,
) -> None:
    """Optimized copy + thumbnail (in a worker thread), three CDN uploads in parallel.

    Temporary files are removed however this ends: success, failure or cancellation.
    Failures propagate to the task's ``on_error`` handler, which marks the image failed.
    """
    try:
        rendered = await anyio.to_thread.run_sync(
            functools.partial(
                processing.render_variants,
                paths.original,
                optimized=paths.optimized,
                thumbnail=paths.thumbnail,
            )
        )
        urls = await _upload_all(
            cdn,
            prefix=f"images/{user_id}/{image_id}",
            files={
                "original": (paths.original, original_format),
                "optimized": (paths.optimized, rendered.optimized_format),
                "thumbnail": (paths.thumbnail, rendered.thumbnail_format),
            },
        )
        async with sessions() as session:
            await service.mark_ready(
                session,
                image_id,
                original_url=urls["original"],
                optimized_url=urls["optimized"],
                thumbnail_url=urls["thumbnail"],
                width=rendered.width,
                height=rendered.height,
            )
    except anyio.get_cancelled_exc_class():
        # on_error is not called for cancellation: record the outcome here, briefly
        with anyio.move_on_after(2, shield=True):
            async with sessions() as session:
                await service.mark_failed(session, image_id, error=CANCELLED_ERROR)
        raise
    finally:
        await storage.remove_files(*paths.all())
    logger.info("image %s of user %s is ready", image_id, user_id)
    await tracker.track(
        event="image_uploaded",
        user_id=user_id,
        properties={
            "image_id": image_id,
            "format": original_format,
            "width": rendered.width,
            "height": rendered.height,
        },
    )


async def _upload_all(
    cdn: CdnClient, *, prefix: str, files: dict[str, tuple[Path, str]]
) -> dict[str, str]:
    urls: dict[str, str] = {}

    async def upload(kind: str, source: Path, fmt: str) -> None:
        urls[kind] = await cdn.upload(
            path=f"{prefix}/{kind}.{processing.EXTENSIONS[fmt]}",
            source=source,
            content_type=processing.CONTENT_TYPES[fmt],
        )

    try:
        async with anyio.create_task_group() as group:
            for kind, (source, fmt) in files.items():
                group.start_soon(upload, kind, source, fmt)
    except ExceptionGroup as errors:
        # one failed upload cancels the others; report the first real cause
        raise _first_cause(errors) from errors
    return urls


def _first_cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
