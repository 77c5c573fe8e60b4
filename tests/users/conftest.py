"""Fixtures of the users service tests (the app fixtures come from tests/conftest.py)."""

from collections.abc import AsyncIterator

import anyio
import pytest

from app.config import Settings
from app.db import Base, SessionFactory, make_engine, make_session_factory

# The models must be imported for create_all to see their tables (the users service
# writes outbox rows in its transactions).
from app.outbox import models as _outbox_models  # noqa: F401
from app.users import models as _models  # noqa: F401
from app.users import passwords


@pytest.fixture
async def sessions(empty_database_url: str) -> AsyncIterator[SessionFactory]:
    """A session factory over a throwaway database with the users and outbox tables."""
    engine = make_engine(empty_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def hashing_waits_for_both(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold two registrations inside the hashing step until both passed the "is it taken?"
    lookup, so only the database constraint can stop the second one."""
    arrived = 0
    both_checked = anyio.Event()
    real_hash = passwords.hash_password

    async def hash_when_both_checked(plain: str, *, rounds: int) -> str:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_checked.set()
        with anyio.fail_after(5):
            await both_checked.wait()
        return await real_hash(plain, rounds=rounds)

    monkeypatch.setattr(passwords, "hash_password", hash_when_both_checked)


@pytest.fixture
async def app_sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    """Sessions on the ``app`` fixture's own database file (to read or age its rows)."""
    engine = make_engine(settings.database_url)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()
