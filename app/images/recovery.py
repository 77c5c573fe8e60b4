"""Startup clean-up of uploads a previous run could not finish.

A processing task still waiting for its concurrency slot when the server stops is
cancelled before it starts, so neither the task nor its ``on_error`` handler runs: its
files would stay in ``upload_dir`` and its record in ``processing`` forever. At startup
the uploads of every run that is gone (``owner.claim_dead_owners``) are orphans: their
files are deleted and their ``processing`` records failed. Uploads of live workers of
the same server are left alone. Names and rows without an owner predate owners: orphans.
"""

import logging
import re
from collections.abc import Collection
from pathlib import Path
from typing import Final

import anyio.to_thread
from sqlalchemy import ColumnElement, or_, update

from app.db import SessionFactory
from app.images.models import ImageRecord, ImageStatus
from app.images.owner import claim_dead_owners

logger = logging.getLogger(__name__)

INTERRUPTED_ERROR: Final = "Interrupted: the service stopped before processing finished"
# Only names this service generates (storage.UploadPaths): never anything else in the dir.
_GENERATED_NAME = re.compile(
    r"^(?:(?P<owner>[0-9a-f]{16})-)?[0-9a-f]{32}\.(upload|optimized|thumbnail)$"
)


def remove_orphaned_files(upload_dir: Path, dead_owners: Collection[str] = ()) -> int:
    """Delete generated upload files of dead owners (or of none); return how many."""
    if not upload_dir.is_dir():
        return 0
    removed = 0
    for path in upload_dir.iterdir():
        match = _GENERATED_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        owner = match["owner"]
        if owner is None or owner in dead_owners:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


async def fail_interrupted_images(
    sessions: SessionFactory, dead_owners: Collection[str]
) -> int:
    """Mark the images of dead owners (or of none) still ``processing`` failed."""
    owned_by_the_dead: ColumnElement[bool] = ImageRecord.owner.is_(None)
    if dead_owners:
        owned_by_the_dead = or_(owned_by_the_dead, ImageRecord.owner.in_(dead_owners))
    async with sessions() as session:
        result = await session.execute(
            update(ImageRecord)
            .where(ImageRecord.status == ImageStatus.PROCESSING, owned_by_the_dead)
            .values(status=ImageStatus.FAILED, error=INTERRUPTED_ERROR)
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


async def recover_interrupted_uploads(
    data_dir: Path, upload_dir: Path, sessions: SessionFactory
) -> None:
    """Clean up after every run that is gone (called by the lifespan at startup)."""
    with claim_dead_owners(data_dir) as dead:
        files = await anyio.to_thread.run_sync(remove_orphaned_files, upload_dir, dead)
        images = await fail_interrupted_images(sessions, dead)
    if files or images:
        logger.warning(
            "startup: removed %d orphaned upload file(s), marked %d image(s) failed",
            files,
            images,
        )
