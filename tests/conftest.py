"""Shared fixtures: ``settings`` (throwaway database + dirs), ``app``, ``client``, ``fakes``.

Every test gets its own database, copied from one migrated once per session (so the
schema is exactly what Alembic builds, and startup stays fast): a SQLite file, or with
``TEST_DATABASE_URL`` a PostgreSQL database created from a migrated template
(tests/databases.py). Tests marked ``sqlite_only`` are skipped on PostgreSQL.
"""

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.db_migrate import migrate_database
from app.main import create_app
from app.mocks import FakeServices

from .databases import (
    ON_POSTGRES,
    create_database,
    drop_database,
    migrated_template,
    unique_name,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On PostgreSQL, skip what only makes sense on SQLite, with the marker's reason."""
    if not ON_POSTGRES:
        return
    for item in items:
        if (marker := item.get_closest_marker("sqlite_only")) is not None:
            reason = marker.kwargs.get("reason") or (marker.args or ["SQLite only"])[0]
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """At the latest revision (``upgrade heads``), copied by each test: a SQLite file's
    path, or the name of a PostgreSQL template database."""
    if ON_POSTGRES:
        name = migrated_template()
        yield name
        drop_database(name)
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate_database(sqlite_url(path))
    yield str(path)


@pytest.fixture
def database_url(tmp_path: Path, migrated_database: str) -> Iterator[str]:
    """A migrated database of this test's own."""
    if ON_POSTGRES:
        name = unique_name("test")
        yield create_database(name, template=migrated_database)
        drop_database(name)
        return
    database = tmp_path / "app.db"
    shutil.copyfile(migrated_database, database)
    yield sqlite_url(database)


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own (no tables)."""
    if ON_POSTGRES:
        name = unique_name("empty")
        yield create_database(name)
        drop_database(name)
        return
    yield sqlite_url(tmp_path / "empty.db")


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Extra settings for one test: ``@pytest.mark.parametrize("settings_overrides", [{...}])``."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, settings_overrides: dict[str, Any]
) -> Settings:
    """Mock mode, a fresh migrated database, temp dirs, and short delays."""
    return Settings(
        _env_file=None,
        mode="mock",
        database_url=database_url,
        data_dir=tmp_path / "data",
        upload_dir=tmp_path / "data" / "uploads",
        bcrypt_rounds=4,
        analytics_flush_interval_s=0.2,
        email_retry_delay_s=0.01,
        shutdown_timeout_s=5.0,
        **settings_overrides,
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The app as the server builds it (schema already migrated)."""
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to ``app`` in-process, lifespan running."""
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
        ) as http,
    ):
        yield http


@pytest.fixture
def fakes(app: FastAPI, client: httpx.AsyncClient) -> FakeServices:
    """The fake external systems of ``app`` (calls, outbox, faults); requires ``client``."""
    fake_services: FakeServices = app.state.fakes
    return fake_services
