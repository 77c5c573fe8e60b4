"""Everything with a lifetime: migrations, engine, the one HTTP client, service clients.

At startup: migrations and the seed (once across workers: ``app.db_migrate``), then the
clean-up of uploads left by runs that are gone (``app.images.recovery``).

The task library's lifespan (``add_tasks``) runs *inside* this one, so at shutdown tasks are
drained while the engine and the HTTP client are still open; they close afterwards.
"""

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    ExitStack,
    asynccontextmanager,
    contextmanager,
)
from datetime import timedelta
from typing import TypedDict

import httpx
from fastapi import FastAPI

from app.analytics.tracking import EventTracker
from app.clients.analytics_api import AnalyticsApiClient
from app.clients.cdn import CdnClient
from app.clients.payment_gateway import PaymentGatewayClient
from app.config import Settings
from app.db import SessionFactory, make_engine, make_session_factory
from app.db_migrate import prepare_database
from app.images.owner import UploadOwner, other_runs_alive
from app.images.recovery import recover_interrupted_uploads
from app.mocks import FakeServices, build_router
from app.orders.pipeline import OrderPipeline
from app.outbox.delivery import Outbox
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
    upload_owner: UploadOwner


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Exempt what startup built from the collector's full passes while the app serves.

    The app, its routes and validators, SQLAlchemy's mappers and the clients live as long
    as the process, yet every full collection walked them again: under order load those
    took up to 118 ms each, the largest source of slow responses (p99). Frozen, they are
    left alone; unfrozen at shutdown, so an app started many times (tests) leaks nothing.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def lifespan_for(
    settings: Settings, fakes: FakeServices | None = None
) -> Callable[[FastAPI], AbstractAsyncContextManager[AppState]]:
    """The app's lifespan; in mock mode ``fakes`` (or a new one) answers every outbound call."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        for directory in (settings.data_dir, settings.upload_dir):
            directory.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        stack = ExitStack()
        try:
            await prepare_database(settings.database_url, engine)
            sessions = make_session_factory(engine)
            # Taken before the clean-up, so a worker starting beside us spares our uploads.
            upload_owner = stack.enter_context(UploadOwner.held(settings.data_dir))
            await recover_interrupted_uploads(
                settings.data_dir, settings.upload_dir, sessions
            )
            # Worker of several: what predates us may be a live sibling's (app.sweeper).
            sweep_orphans = not other_runs_alive(settings.data_dir, upload_owner.name)
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
                    async with sweeper.running(sweep_orphans=sweep_orphans):
                        with startup_objects_frozen():
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
                                upload_owner=upload_owner,
                            )
                finally:
                    # After the task library drained, before the client and engine close:
                    # every buffered event is delivered or stored (shielded, bounded).
                    await tracker.stop()
            logger.info("HTTP client closed")
        finally:
            stack.close()  # this run's upload-owner lock
            await engine.dispose()

    return lifespan
