"""Bringing the database up to date at startup: Alembic migrations, then the seed.

Several processes may start at once (``serve --workers N``, replicas): they take one
startup lock in turn, so the migrations and the seed run once and the others find the
work done. PostgreSQL: a session advisory lock. SQLite: ``flock`` on a file beside the
database (both released by the server if the process dies).
"""

import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import anyio
import anyio.to_thread
from alembic import command
from alembic.config import Config
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import make_session_factory
from app.seed import seed_catalogue

logger = logging.getLogger(__name__)

# Any fixed 64-bit number this service alone uses as its PostgreSQL advisory lock key.
STARTUP_LOCK_KEY: Final = 0x7461736B73_0001  # "tasks", 1


def migrations_dir() -> Path:
    """The Alembic scripts: ``migrations/`` in a checkout, ``app/_migrations`` when installed."""
    packaged = Path(__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config for ``database_url`` without needing alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # Passed as an attribute, not a main option: URLs may hold '%', which ini interpolates.
    config.attributes["database_url"] = database_url
    return config


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite file database; None for PostgreSQL and in-memory SQLite."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def ensure_database_dir(database_url: str) -> None:
    """Create the directory of a SQLite file database if it is missing."""
    if (path := sqlite_file(database_url)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def migrate_database(database_url: str) -> None:
    """``alembic upgrade heads`` (blocking; env.py runs its own engine, FKs off)."""
    ensure_database_dir(database_url)
    command.upgrade(alembic_config(database_url), "heads")


async def check_foreign_keys(engine: AsyncEngine) -> None:
    """Fail loudly if a SQLite batch migration left rows that violate a foreign key."""
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql("PRAGMA foreign_key_check")
        violations = result.all()
    if violations:
        raise RuntimeError(f"foreign key violations after migration: {len(violations)}")


def _lock_file(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the process holding it is done
    except BaseException:
        os.close(fd)
        raise
    return fd


@asynccontextmanager
async def startup_lock(engine: AsyncEngine, database_url: str) -> AsyncIterator[None]:
    """Held while one process migrates and seeds; the others wait their turn."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY}
            )
            await connection.commit()
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"),
                        {"key": STARTUP_LOCK_KEY},
                    )
                    await connection.commit()
        return
    path = sqlite_file(database_url)
    if path is None:  # in-memory: private to this process, nothing to share
        yield
        return
    ensure_database_dir(database_url)
    lock_path = path.with_name(f"{path.name}.startup-lock")
    fd = await anyio.to_thread.run_sync(_lock_file, lock_path)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the flock


async def prepare_database(database_url: str, engine: AsyncEngine) -> None:
    """Migrate (in a worker thread: env.py runs its own event loop) and seed, once."""
    async with startup_lock(engine, database_url):
        await anyio.to_thread.run_sync(migrate_database, database_url)
        if engine.dialect.name == "sqlite":
            await check_foreign_keys(engine)
        if added := await seed_catalogue(make_session_factory(engine)):
            logger.info("seeded %d products", added)
