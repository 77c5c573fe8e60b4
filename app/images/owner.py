"""Which process owns an upload, so a restart cleans up only after processes that died.

With several workers (``serve --workers N``) one worker may restart while the others are
processing uploads. Each app run takes a name and holds ``flock`` on
``DATA_DIR/upload-owners/<name>.lock`` while it runs; its upload files start with that
name and its image rows carry it. The kernel drops the lock when the process exits, even
on SIGKILL, so a lock file nobody holds belongs to a run that is gone.
"""

import fcntl
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final

from fastapi import Depends, Request

OWNERS_DIR_NAME: Final = "upload-owners"
_SUFFIX: Final = ".lock"


def owners_dir(data_dir: Path) -> Path:
    return data_dir / OWNERS_DIR_NAME


@dataclass(frozen=True, slots=True)
class UploadOwner:
    """This app run's name (16 hex digits) and the descriptor holding its lock."""

    name: str
    fd: int

    @classmethod
    @contextmanager
    def held(cls, data_dir: Path) -> Iterator["UploadOwner"]:
        """Claim a fresh name for the duration of the block (the lock file stays: see
        ``claim_dead_owners``, which removes it once the uploads are cleaned up)."""
        directory = owners_dir(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex[:16]
        fd = os.open(directory / f"{name}{_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: never held
            os.write(fd, f"{os.getpid()}\n".encode())
            yield cls(name=name, fd=fd)
        finally:
            os.close(fd)


@contextmanager
def claim_dead_owners(data_dir: Path) -> Iterator[list[str]]:
    """The names of runs that are gone; their lock files are removed after the block.

    The lock of each dead run is taken (non-blocking) for the block, so two workers
    starting together never clean up after the same run twice, and never after a live one.
    """
    directory = owners_dir(data_dir)
    claimed: list[tuple[str, int, Path]] = []
    try:
        for path in sorted(directory.glob(f"*{_SUFFIX}")) if directory.is_dir() else []:
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # cleaned up by another worker just now
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # held: that run is alive
                continue
            claimed.append((path.name.removesuffix(_SUFFIX), fd, path))
        yield [name for name, _, _ in claimed]
        for _, _, path in claimed:
            with suppress(FileNotFoundError):
                path.unlink()
    finally:
        for _, fd, _ in claimed:
            os.close(fd)


def other_runs_alive(data_dir: Path, own: str) -> bool:
    """Whether another run (a worker of the same server) holds its lock right now."""
    directory = owners_dir(data_dir)
    for path in directory.glob(f"*{_SUFFIX}") if directory.is_dir() else []:
        if path.name == f"{own}{_SUFFIX}":
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the lock if it was taken just now
    return False


async def get_upload_owner(request: Request) -> UploadOwner:
    """The owner the app's lifespan holds."""
    owner: UploadOwner = request.state.upload_owner
    return owner


UploadOwnerDep = Annotated[UploadOwner, Depends(get_upload_owner)]
