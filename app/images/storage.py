"""Upload files on disk: generated names under ``settings.upload_dir``, streamed writes.

The client's filename never becomes part of a path; it is kept, sanitized, as metadata.
"""

import contextlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import aiofiles
import aiofiles.os
import anyio

from app.images.exceptions import UploadTooLargeError

CHUNK_BYTES: Final = 64 * 1024
MAX_FILENAME_CHARS: Final = 120


class AsyncReadable(Protocol):
    """What an upload source offers (``UploadFile`` fits)."""

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True, slots=True)
class UploadPaths:
    """The files one upload may create, all under one generated name in ``upload_dir``."""

    original: Path
    optimized: Path
    thumbnail: Path

    @classmethod
    def generate(cls, upload_dir: Path, owner: str | None = None) -> "UploadPaths":
        """Fresh names; ``owner`` (images.owner) prefixes them so recovery knows whose."""
        stem = uuid.uuid4().hex if owner is None else f"{owner}-{uuid.uuid4().hex}"
        return cls(
            original=upload_dir / f"{stem}.upload",
            optimized=upload_dir / f"{stem}.optimized",
            thumbnail=upload_dir / f"{stem}.thumbnail",
        )

    def all(self) -> tuple[Path, Path, Path]:
        return (self.original, self.optimized, self.thumbnail)


async def save_upload(source: AsyncReadable, target: Path, *, max_bytes: int) -> int:
    """Copy ``source`` to ``target`` chunk by chunk; return the byte count.

    More than ``max_bytes`` raises ``UploadTooLargeError`` as soon as the limit is
    passed. On any failure (including cancellation) the partial file is removed.
    """
    await aiofiles.os.makedirs(target.parent, exist_ok=True)
    written = 0
    # "x": a generated name that somehow exists is an error, never an overwrite
    out = await aiofiles.open(target, "xb")
    try:
        try:
            while chunk := await source.read(CHUNK_BYTES):
                written += len(chunk)
                if written > max_bytes:
                    raise UploadTooLargeError(max_bytes)
                await out.write(chunk)
        finally:
            with anyio.CancelScope(shield=True):
                await out.close()
    except BaseException:
        await remove_files(target)
        raise
    return written


async def remove_files(*paths: Path) -> None:
    """Delete the files that exist; missing ones are fine (cleanup is idempotent).

    Shielded: cleanup also runs while the caller is being cancelled.
    """
    with anyio.CancelScope(shield=True):
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                await aiofiles.os.remove(path)


_UNSAFE_CHARS = re.compile(r"[^\w.\- ()\[\]+]")


def sanitize_filename(name: str | None) -> str:
    """The client's file name reduced to a harmless label (metadata only, never a path)."""
    if not name:
        return "upload"
    # keep only the last component, whatever separator the client's OS used
    base = re.split(r"[/\\]", name)[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if ch.isprintable())
    base = _UNSAFE_CHARS.sub("_", base).strip(" .")
    return base[:MAX_FILENAME_CHARS] or "upload"
