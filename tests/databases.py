"""Where a test's database lives: a SQLite file, or PostgreSQL when ``TEST_DATABASE_URL`` is set.

    TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres pytest

(``make test-postgres`` starts a throwaway cluster and sets it.) The URL names a database
the tests may connect to as a user allowed to create databases; each test gets databases
of its own, created next to it and dropped afterwards.
"""

import asyncio
import concurrent.futures
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.db_migrate import migrate_database

T = TypeVar("T")

TEST_DATABASE_URL: Final = os.environ.get("TEST_DATABASE_URL", "").strip()
ON_POSTGRES: Final = TEST_DATABASE_URL.startswith("postgresql")
if TEST_DATABASE_URL and not ON_POSTGRES:
    raise RuntimeError("TEST_DATABASE_URL must be a postgresql+asyncpg:// URL")

# Databases this run creates start with it: several runs may share one server.
RUN_PREFIX: Final = f"t{uuid.uuid4().hex[:8]}"
_SAFE_NAME = re.compile(r"^[a-z0-9_]+$")


def run_blocking(func: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even while an event loop runs here."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(func())).result()  # type: ignore[arg-type]


def postgres_url(database: str) -> str:
    """``TEST_DATABASE_URL`` pointing at another database of the same server."""
    url = make_url(TEST_DATABASE_URL).set(database=database)
    return url.render_as_string(hide_password=False)


def _admin(statements: list[str]) -> None:
    async def run() -> None:
        engine = create_async_engine(
            TEST_DATABASE_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.exec_driver_sql(statement)
        finally:
            await engine.dispose()

    run_blocking(run)


def create_database(name: str, *, template: str = "template0") -> str:
    """A new database (a copy of ``template``); returns its URL."""
    assert _SAFE_NAME.match(name), name
    assert _SAFE_NAME.match(template), template
    _admin([f'CREATE DATABASE "{name}" TEMPLATE "{template}"'])
    return postgres_url(name)


def ensure_database(name: str) -> str:
    """``name`` (created empty if missing: a restarted server finds its data); its URL."""
    assert _SAFE_NAME.match(name), name

    async def exists() -> bool:
        engine = create_async_engine(TEST_DATABASE_URL, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                found = await connection.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": name},
                )
        finally:
            await engine.dispose()
        return found is not None

    if not run_blocking(exists):
        create_database(name)
    return postgres_url(name)


def drop_database(name: str) -> None:
    """Drop ``name``, disconnecting whoever is still connected (a test's leftover pool)."""
    assert _SAFE_NAME.match(name), name
    _admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


def unique_name(label: str) -> str:
    return f"{RUN_PREFIX}_{label}_{uuid.uuid4().hex[:10]}"


def migrated_template() -> str:
    """A database at the latest revision that tests copy (created once per run)."""
    name = f"{RUN_PREFIX}_migrated_template"
    migrate_database(create_database(name))
    return name


def execute(
    database_url: str, sql: str, params: Mapping[str, Any] | None = None
) -> None:
    """One statement on any of our databases, from sync code (committed)."""

    async def run() -> None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(sql), dict(params or {}))
        finally:
            await engine.dispose()

    run_blocking(run)
