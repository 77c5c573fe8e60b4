"""Fixtures of the users service tests (the app fixtures come from tests/conftest.py)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.db import Base, SessionFactory, make_engine, make_session_factory

# The models must be imported for create_all to see their tables.
from app.users import models as _models  # noqa: F401


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[SessionFactory]:
    """A session factory over a throwaway SQLite file with the users tables."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'users.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()
