"""Shared fixtures: ``settings`` (throwaway SQLite + dirs), ``app``, ``client``, ``fakes``.

Every test gets its own database file, copied from one migrated once per session (so the
schema is exactly what Alembic builds, and startup stays fast).
"""

import shutil
from collections.abc import AsyncIterator
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


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the latest revision (``upgrade heads``), copied by each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate_database(f"sqlite+aiosqlite:///{path}")
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Extra settings for one test: ``@pytest.mark.parametrize("settings_overrides", [{...}])``."""
    return {}


@pytest.fixture
def settings(
    tmp_path: Path, migrated_database: Path, settings_overrides: dict[str, Any]
) -> Settings:
    """Mock mode, a fresh migrated database, temp dirs, and short delays."""
    database = tmp_path / "app.db"
    shutil.copyfile(migrated_database, database)
    return Settings(
        _env_file=None,
        mode="mock",
        database_url=sqlite_url(database),
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
