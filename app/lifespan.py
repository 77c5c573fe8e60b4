"""Everything with a lifetime: migrations, engine, the one HTTP client, service clients.

The task library's lifespan (``add_tasks``) runs *inside* this one, so at shutdown tasks are
drained while the engine and the HTTP client are still open; they close afterwards.
"""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

import anyio
import httpx
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.analytics.tracking import EventTracker
from app.clients.analytics_api import AnalyticsApiClient
from app.clients.cdn import CdnClient
from app.clients.payment_gateway import PaymentGatewayClient
from app.config import Settings
from app.db import SessionFactory, make_engine, make_session_factory
from app.mocks import FakeServices, build_router
from app.orders.pipeline import OrderPipeline
from app.outbox.delivery import Outbox
from app.seed import seed_catalogue
from app.sweeper import Sweeper

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HTTP_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)


class AppState(TypedDict):
    """What the lifespan yields; each key is ``request.state.<key>`` in a request."""

    settings: Settings
    sessions: SessionFactory
    http: httpx.AsyncClient
    analytics_api: AnalyticsApiClient
    cdn: CdnClient
    tracker: EventTracker
    outbox: Outbox
    orders: OrderPipeline
    fakes: FakeServices | None


def migrations_dir() -> Path:
    """The Alembic scripts: ``migrations/`` in a checkout, ``app/_migrations`` when installed."""
    packaged = Path(__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config for ``database_url`` without needing alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # Passed as an attribute, not a main option: URLs may hold '%', which ini interpolates.
    config.attributes["database_url"] = database_url
    return config


def ensure_database_dir(database_url: str) -> None:
    """Create the directory of a SQLite file database if it is missing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (
        None,
        "",
        ":memory:",
    ):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def migrate_database(database_url: str) -> None:
    """``alembic upgrade heads`` (blocking; env.py runs its own engine, FKs off)."""
    ensure_database_dir(database_url)
    command.upgrade(alembic_config(database_url), "heads")


async def check_foreign_keys(engine: AsyncEngine) -> None:
    """Fail loudly if a migration left rows that violate a foreign key."""
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql("PRAGMA foreign_key_check")
        violations = result.all()
    if violations:
        raise RuntimeError(f"foreign key violations after migration: {len(violations)}")


async def prepare_database(settings: Settings, engine: AsyncEngine) -> None:
    """Migrate (in a worker thread: env.py runs its own event loop) and seed."""
    await anyio.to_thread.run_sync(migrate_database, settings.database_url)
    if engine.dialect.name == "sqlite":
        await check_foreign_keys(engine)
    if added := await seed_catalogue(make_session_factory(engine)):
        logger.info("seeded %d products", added)


def lifespan_for(
    settings: Settings, fakes: FakeServices | None = None
) -> Callable[[FastAPI], AbstractAsyncContextManager[AppState]]:
    """The app's lifespan; in mock mode ``fakes`` (or a new one) answers every outbound call."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        for directory in (settings.data_dir, settings.upload_dir):
            directory.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        try:
            await prepare_database(settings, engine)
            mock = settings.mode == "mock"
            fake_services = (
                (
                    fakes
                    or FakeServices(
                        settings.data_dir / "fakes.db",
                        payment_slow_s=settings.fake_payment_slow_s,
                    )
                )
                if mock
                else None
            )
            transport: httpx.AsyncBaseTransport | None = None
            if fake_services is not None:
                router = build_router(fake_services, settings)
                transport = httpx.MockTransport(router.async_handler)
            async with httpx.AsyncClient(
                transport=transport, timeout=HTTP_TIMEOUT, limits=HTTP_LIMITS
            ) as http:
                analytics_api = AnalyticsApiClient(http, settings.analytics_service)
                sessions = make_session_factory(engine)
                outbox = Outbox.over(http, settings, sessions)
                tracker = EventTracker.for_app(
                    app,
                    settings,
                    analytics_api=analytics_api,
                    alerts=outbox.alerts,
                    sessions=sessions,
                )
                orders = OrderPipeline(
                    sessions=sessions,
                    payments=PaymentGatewayClient(http, settings.payment_gateway),
                    outbox=outbox,
                    tracker=tracker,
                    retry_delay_s=settings.email_retry_delay_s,
                    stuck_after=timedelta(seconds=settings.order_stuck_after_s),
                )
                await tracker.start()  # the periodic (age) flusher
                try:
                    sweeper = Sweeper(
                        [orders.sweep_job(), outbox.sweep_job()],
                        interval_s=settings.sweep_interval_s,
                    )
                    async with sweeper.running():
                        yield AppState(
                            settings=settings,
                            sessions=sessions,
                            http=http,
                            analytics_api=analytics_api,
                            cdn=CdnClient(http, settings.cdn),
                            tracker=tracker,
                            outbox=outbox,
                            orders=orders,
                            fakes=fake_services,
                        )
                finally:
                    # After the task library drained, before the client and engine close:
                    # every buffered event is delivered or stored (shielded, bounded).
                    await tracker.stop()
            logger.info("HTTP client closed")
        finally:
            await engine.dispose()

    return lifespan
