"""Startup clean-up of uploads a previous run could not finish.

A processing task still waiting for its concurrency slot when the server stops is
cancelled before it starts, so neither the task nor its ``on_error`` handler runs: its
files would stay in ``upload_dir`` and its record in ``processing`` forever. At startup no
upload is in flight (one worker per data directory, as the task registry requires), so
every generated upload file left over is an orphan and every ``processing`` record is dead.
"""

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy import update

from app.config import Settings
from app.db import make_engine
from app.images.models import ImageRecord, ImageStatus

logger = logging.getLogger(__name__)

INTERRUPTED_ERROR: Final = "Interrupted: the service stopped before processing finished"
# Only names this service generates (storage.UploadPaths): never anything else in the dir.
_GENERATED_NAME = re.compile(r"^[0-9a-f]{32}\.(upload|optimized|thumbnail)$")


def remove_orphaned_files(upload_dir: Path) -> int:
    """Delete leftover generated upload files; return how many."""
    if not upload_dir.is_dir():
        return 0
    removed = 0
    for path in upload_dir.iterdir():
        if _GENERATED_NAME.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


async def fail_interrupted_images(database_url: str) -> int:
    """Mark every image still ``processing`` as failed; return how many."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(
                update(ImageRecord)
                .where(ImageRecord.status == ImageStatus.PROCESSING)
                .values(status=ImageStatus.FAILED, error=INTERRUPTED_ERROR)
            )
            return result.rowcount or 0
    finally:
        await engine.dispose()


@asynccontextmanager
async def recover_interrupted_uploads(app: FastAPI) -> AsyncIterator[None]:
    """Router lifespan: runs after the app's own startup (database migrated)."""
    settings: Settings = app.state.settings
    files = await anyio.to_thread.run_sync(remove_orphaned_files, settings.upload_dir)
    images = await fail_interrupted_images(settings.database_url)
    if files or images:
        logger.warning(
            "startup: removed %d orphaned upload file(s), marked %d image(s) failed",
            files,
            images,
        )
    yield
