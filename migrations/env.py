"""Alembic environment (async engine, batch mode for SQLite).

Run by the app (``app.lifespan.migrate_database``, in a worker thread) and by the ``alembic``
command. Foreign keys stay off during migrations: batch mode recreates tables, and with
``foreign_keys=ON`` that would cascade-delete child rows. The app checks them afterwards.
"""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

# Each domain's models, so autogenerate sees every table (one line per domain).
import app.analytics.models
import app.images.models
import app.orders.models
import app.outbox.models
import app.users.models  # noqa: F401
from app.config import get_settings
from app.db import Base

config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option(
        "sqlalchemy.url"
    )
    return str(url) if url else get_settings().database_url


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    # A private engine without the app's pragmas: aiosqlite opens with foreign keys off.
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    do_run_migrations(connection)
else:
    asyncio.run(run_async_migrations())
