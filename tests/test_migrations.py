"""Alembic: ``upgrade heads`` builds the schema the models describe, and can go back down.

On SQLite and, with ``TEST_DATABASE_URL``, on PostgreSQL (each test an empty database).
"""

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import app as app_package
from app.db import Base, make_engine
from app.db_migrate import alembic_config, migrate_database

pytestmark = pytest.mark.anyio

T = TypeVar("T")


def import_every_models_module() -> None:
    """Every ``app.<domain>.models``, so ``Base.metadata`` has all tables."""
    for module in pkgutil.iter_modules(app_package.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"app.{module.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"app.{module.name}.models":
                    raise


async def migrate(url: str) -> None:
    # Alembic's env.py runs its own event loop: off this one, in a thread.
    await anyio.to_thread.run_sync(migrate_database, url)


async def inspect(url: str, look: Callable[[sa.Connection], T]) -> T:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


def heads_and_tables(connection: sa.Connection) -> tuple[set[str], set[str]]:
    current = set(MigrationContext.configure(connection).get_current_heads())
    return current, set(sa.inspect(connection).get_table_names())


async def test_upgrade_heads_reaches_every_head(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    current, tables = await inspect(empty_database_url, heads_and_tables)
    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    assert current == heads
    assert {"product", "order", "order_line"} <= tables


def model_diff(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


async def test_autogenerate_finds_no_difference(empty_database_url: str) -> None:
    import_every_models_module()
    await migrate(empty_database_url)
    assert await inspect(empty_database_url, model_diff) == []


def id_types(connection: sa.Connection) -> dict[str, str]:
    inspector = sa.inspect(connection)
    return {
        f"{table}.{column['name']}": str(column["type"])
        for table in inspector.get_table_names()
        for column in inspector.get_columns(table)
        if (column["name"] == "id" or column["name"].endswith("_id"))
        and isinstance(column["type"], sa.Integer)  # not charge_id, a string
    }


async def test_ids_are_64_bit_on_postgresql_and_integer_on_sqlite(
    empty_database_url: str,
) -> None:
    await migrate(empty_database_url)
    types = await inspect(empty_database_url, id_types)
    expected = "BIGINT" if empty_database_url.startswith("postgresql") else "INTEGER"
    assert len(types) >= 12
    assert set(types.values()) == {expected}, types


async def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    url = empty_database_url
    await migrate(url)
    await anyio.to_thread.run_sync(command.downgrade, alembic_config(url), "base")
    _, tables = await inspect(url, heads_and_tables)
    assert tables <= {"alembic_version"}
    await migrate(url)
    _, tables = await inspect(url, heads_and_tables)
    assert "order_line" in tables
