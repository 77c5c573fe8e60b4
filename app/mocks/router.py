"""Assembles the fake systems into one ``respx.Router`` (mock mode's transport).

Each fake system is a module with ``install(router, fakes, base_url)``; a new one is one line
in ``build_router``.
"""

import respx

from app.config import Settings
from app.mocks import (
    alerts,
    analytics_api,
    cdn,
    email_service,
    payment_gateway,
    warehouse,
)
from app.mocks.fakes import FakeServices


class UnrecordedRouter(respx.Router):
    """A ``respx.Router`` that keeps no call history.

    respx appends every request and response (bodies included) to ``router.calls`` and the
    route's ``calls`` for as long as the router lives: in a server that is a leak. The fakes
    record what ``/demo`` shows themselves, bounded, so respx's copy is dropped.
    """

    def record(self, *_args: object, **_kwargs: object) -> None:
        return None


def build_router(fakes: FakeServices, settings: Settings) -> respx.Router:
    """A router answering for every external system at its configured base URL."""
    # Unplanned outbound calls fail loudly instead of reaching the network.
    router = UnrecordedRouter(assert_all_mocked=True, assert_all_called=False)
    payment_gateway.install(router, fakes, settings.payment_gateway.base_url)
    email_service.install(router, fakes, settings.email_service.base_url)
    warehouse.install(router, fakes, settings.warehouse.base_url)
    analytics_api.install(router, fakes, settings.analytics_service.base_url)
    alerts.install(router, fakes, settings.alerts.base_url)
    cdn.install(
        router,
        fakes,
        settings.cdn.base_url,
        storage_dir=settings.data_dir / "cdn",
        public_base_url=settings.public_base_url,
    )
    return router
