"""Fake alert webhook: accepts ``{"text": ...}`` unless it is down."""

import httpx
import respx

from app.mocks.fakes import FakeServices

SERVICE = "alerts"


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /alert`` under ``base_url``."""
    base = base_url.rstrip("/")

    def alert(request: httpx.Request) -> httpx.Response:
        if fakes.faults.alerts == "down":
            payload = {"error": "unavailable", "message": "Alert webhook unavailable"}
            return fakes.respond(SERVICE, request, httpx.Response(503, json=payload))
        return fakes.respond(SERVICE, request, httpx.Response(200, json={"ok": True}))

    router.post(f"{base}/alert", name="alerts.alert").mock(side_effect=alert)
