"""The users migrations (0002_users, 0006_users_resend) build exactly the models' tables
and are reversible."""

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Constraint, Index, Table, create_engine

from app.db import Base
from app.db_migrate import alembic_config
from app.users import models

pytestmark = pytest.mark.sqlite_only(
    reason="reads the file with sqlite3 to check rows survive SQLite batch table rebuilds;"
    " tests/test_migrations.py covers every migration on both databases"
)

USERS_TABLES = {models.User.__tablename__, models.UserVerificationToken.__tablename__}


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(f"PRAGMA table_info('{table}')")
        return {row[1] for row in rows}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {name for (name,) in rows}


def users_diff(path: Path) -> list[object]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    return [entry for entry in diff if _table_of(entry) in USERS_TABLES]


def _table_of(entry: object) -> str | None:
    # An entry is an op tuple such as ("add_table", Table), ("add_index", Index),
    # ("add_column", schema, table_name, Column), or a list of modify_* tuples.
    op = entry[0] if isinstance(entry, list) else entry
    assert isinstance(op, tuple)
    for part in op[1:]:
        if isinstance(part, Table):
            return part.name
        if isinstance(part, Index | Constraint) and part.table is not None:
            return part.table.name
        if isinstance(part, str):
            return part
    return None


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "migrated.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "heads")
    return path


def test_upgrade_creates_the_users_tables_as_the_models_describe(
    database: Path,
) -> None:
    assert tables(database) >= USERS_TABLES
    assert users_diff(database) == []


def test_the_migrated_schema_refuses_a_second_folded_address(database: Path) -> None:
    insert = (
        "INSERT INTO user (email, email_normalized, password_hash, name, created_at)"
        " VALUES (?, ?, 'h', 'n', '2026-01-01 00:00:00')"
    )
    with sqlite3.connect(database) as connection:
        connection.execute(insert, ("Ada@example.com", "ada@example.com"))
        with pytest.raises(sqlite3.IntegrityError, match="email_normalized"):
            connection.execute(insert, ("ADA@example.com", "ada@example.com"))


def test_downgrade_removes_only_the_users_tables_and_upgrade_restores_them(
    database: Path,
) -> None:
    config = alembic_config(f"sqlite+aiosqlite:///{database}")
    before = tables(database)

    command.downgrade(config, "0006_users_resend@-2")  # both users revisions

    assert tables(database) == before - USERS_TABLES
    assert {_table_of(entry) for entry in users_diff(database)} == USERS_TABLES
    command.upgrade(config, "heads")
    assert tables(database) == before
    assert users_diff(database) == []


def test_0006_adds_the_resend_columns_and_removes_only_them(database: Path) -> None:
    config = alembic_config(f"sqlite+aiosqlite:///{database}")
    assert "verification_sent_at" in columns(database, "user")
    assert "revoked_at" in columns(database, "user_verification_token")
    insert = (
        "INSERT INTO user (email, email_normalized, password_hash, name, created_at)"
        " VALUES ('a@example.com', 'a@example.com', 'h', 'n', '2026-01-01 00:00:00')"
    )
    with sqlite3.connect(database) as connection:
        connection.execute(insert)

    command.downgrade(config, "0002_users")

    assert "verification_sent_at" not in columns(database, "user")
    assert "revoked_at" not in columns(database, "user_verification_token")
    assert {_table_of(entry) for entry in users_diff(database)} == USERS_TABLES
    command.upgrade(config, "heads")
    assert users_diff(database) == []
    with sqlite3.connect(database) as connection:  # rows survive the batch rebuilds
        [(sent_at,)] = connection.execute("SELECT verification_sent_at FROM user")
    assert sent_at is None
