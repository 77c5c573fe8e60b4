"""Fakes on a file in ``tmp_path``, and HTTP clients that talk to them as the app does."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.mocks import FakeServices
from tests.mocks.helpers import talking_to


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    """Mock mode with the default fake base URLs and a throwaway data dir."""
    return Settings(_env_file=None, mode="mock", data_dir=tmp_path / "data")


@pytest.fixture
def fakes_db(fake_settings: Settings) -> Path:
    return fake_settings.data_dir / "fakes.db"


@pytest.fixture
def fakes(fakes_db: Path) -> Iterator[FakeServices]:
    """The fakes of one process (a worker, or the server before a restart)."""
    fake_services = FakeServices(fakes_db, payment_slow_s=0.01)
    yield fake_services
    fake_services.close()


@pytest.fixture
async def http(
    fakes: FakeServices, fake_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async with talking_to(fakes, fake_settings) as client:
        yield client
