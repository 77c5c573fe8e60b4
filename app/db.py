"""Database engine, sessions and the declarative base (SQLite via aiosqlite, or PostgreSQL via asyncpg)."""

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, TypeAlias

from fastapi import Depends, Request
from sqlalchemy import BigInteger, CursorResult, DateTime, Integer, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState
from sqlalchemy.sql import Executable
from sqlalchemy.types import TypeDecorator

SessionFactory: TypeAlias = async_sessionmaker[AsyncSession]

# Ids: the API accepts up to 2**63 - 1, so 64-bit on PostgreSQL. SQLite keeps INTEGER, its
# (already 64-bit) rowid alias: BIGINT there would lose the automatic id.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# How long a writer queues for SQLite's single write lock before failing ("database is
# locked"). Bursts (20 concurrent orders, upload floods) queue well within it.
BUSY_TIMEOUT_S = 15

# SQLite batch migrations recreate tables, so every constraint needs a stable name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; its metadata is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime; SQLite drops tzinfo, so it is restored on read."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Now, timezone-aware (never ``datetime.utcnow()``)."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Per connection: WAL lets readers run beside the writer, busy_timeout makes writers
    # queue instead of failing, and SQLite ignores foreign keys unless asked. Each pooled
    # connection keeps a page cache of its own (2 MiB by default, up to 15 connections)
    # that fills as the database grows; 512 KiB each keeps RSS flat, and the OS caches
    # the file anyway (bench/memory.py).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-512")
    cursor.close()


async def execute_core(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any]
) -> CursorResult[Any]:
    """Run a Core statement on the session's connection, inside its transaction.

    For the order pipeline's hot paths: conditional UPDATEs built once (module constants
    with ``bindparam``) and run here cost the event loop less than half of building them
    anew and running them through the ORM's bulk-update path, which on SQLite takes
    longer than the database does (``python -m bench.db_statements``: x2.3 to x2.5).
    Nothing is loaded, so the ORM has nothing to keep in sync.
    """
    connection = await session.connection()
    result: CursorResult[Any] = await connection.execute(statement, params)
    return result


def _rollback_if_open(
    dbapi_connection: Any, record: ConnectionPoolEntry, reset: PoolResetState
) -> None:
    # The pool rolls back every connection it gets back, which costs a round trip to
    # aiosqlite's thread even after a commit (eight per order). SQLite says whether a
    # transaction is open; only then is there anything to roll back.
    driver = record.driver_connection
    if reset.terminate_only or driver is None or driver.in_transaction:
        dbapi_connection.rollback()


def make_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite connections get WAL, busy_timeout and foreign keys.

    On SQLite the process keeps one connection and its sessions queue for it, first come
    first served. SQLite lets one writer in at a time; with a pool, the other connections
    would wait in SQLite's busy handler, which polls the lock with sleeps of up to 100 ms
    (and a pool's overflow connections are opened and closed under load, each with a
    thread of its own). Queued here, a write starts as soon as the previous one commits,
    which is what keeps p99 of ``POST /orders`` under load near its median
    (``python -m bench.orders_load``). A session holds the connection only between its
    first statement and its commit, so none may be held across a network call or while
    another session is opened.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            connect_args={"timeout": BUSY_TIMEOUT_S},
            pool_size=1,
            max_overflow=0,
            pool_reset_on_return=None,  # _rollback_if_open instead
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "reset", _rollback_if_open)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded attributes after commit (async cannot lazy-load)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session_factory(request: Request) -> SessionFactory:
    """The session factory built by the app's lifespan.

    ``async def`` like every dependency that only reads app state: FastAPI runs a plain
    ``def`` dependency in its thread pool, a thread round trip per request for a lookup.
    """
    sessions: SessionFactory = request.state.sessions
    return sessions


SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]


async def get_session(sessions: SessionFactoryDep) -> AsyncIterator[AsyncSession]:
    """One session per request; services commit explicitly."""
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
