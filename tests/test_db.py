"""Every SQLite connection gets WAL, one busy timeout and enforced foreign keys."""

from pathlib import Path

import pytest

from app.db import BUSY_TIMEOUT_S, make_engine

pytestmark = pytest.mark.anyio


@pytest.mark.sqlite_only(reason="the SQLite connection pragmas")
async def test_sqlite_connections_get_wal_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as conn:
            pragmas = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in (
                    "journal_mode",
                    "busy_timeout",
                    "foreign_keys",
                    "cache_size",
                )
            }
    finally:
        await engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": BUSY_TIMEOUT_S * 1000,
        "foreign_keys": 1,
        "cache_size": -512,  # KiB: a small page cache per pooled connection
    }
