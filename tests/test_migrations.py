"""Alembic: ``upgrade heads`` builds the schema the models describe, and can go back down."""

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import app as app_package
from app.db import Base
from app.db_migrate import alembic_config, migrate_database


def import_every_models_module() -> None:
    """Every ``app.<domain>.models``, so ``Base.metadata`` has all tables."""
    for module in pkgutil.iter_modules(app_package.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"app.{module.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"app.{module.name}.models":
                    raise


def sync_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_upgrade_heads_reaches_every_head(tmp_path: Path) -> None:
    database = tmp_path / "migrated.db"
    migrate_database(f"sqlite+aiosqlite:///{database}")

    engine = sa.create_engine(sync_url(database))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
        tables = set(sa.inspect(connection).get_table_names())
    engine.dispose()
    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    assert current == heads
    assert {"product", "order", "order_line"} <= tables


def test_autogenerate_finds_no_difference(tmp_path: Path) -> None:
    import_every_models_module()
    database = tmp_path / "migrated.db"
    migrate_database(f"sqlite+aiosqlite:///{database}")

    engine = sa.create_engine(sync_url(database))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff: list[Any] = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    migrate_database(url)
    command.downgrade(alembic_config(url), "base")
    migrate_database(url)

    engine = sa.create_engine(sync_url(tmp_path / "roundtrip.db"))
    with engine.connect() as connection:
        assert "order_line" in sa.inspect(connection).get_table_names()
    engine.dispose()
