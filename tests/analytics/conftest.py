"""Fixtures: the tracker's fake outlets and a manual clock."""

import pytest

from .fakes import FakeAlerts, FakeService, FakeStore, ManualClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service() -> FakeService:
    return FakeService("analytics")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore("database")


@pytest.fixture
def alerts() -> FakeAlerts:
    return FakeAlerts("alerts")
