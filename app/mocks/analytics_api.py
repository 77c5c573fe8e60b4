"""Fake analytics service: accepts event batches unless it is down."""

import json

import httpx
import respx

from app.mocks.fakes import FakeServices

SERVICE = "analytics"


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /batch`` under ``base_url``."""
    base = base_url.rstrip("/")

    def batch(request: httpx.Request) -> httpx.Response:
        payload: dict[str, object]
        if fakes.faults.analytics == "down":
            payload = {"error": "unavailable", "message": "Analytics unavailable"}
            return fakes.respond(SERVICE, request, httpx.Response(503, json=payload))
        try:
            events = json.loads(request.content).get("events")
        except (ValueError, AttributeError):
            events = None
        if not isinstance(events, list):
            payload = {"error": "invalid_request", "message": "events must be a list"}
            return fakes.respond(SERVICE, request, httpx.Response(400, json=payload))
        fakes.analytics_events.extend(
            event for event in events if isinstance(event, dict)
        )
        payload = {"accepted": len(events)}
        return fakes.respond(SERVICE, request, httpx.Response(202, json=payload))

    router.post(f"{base}/batch", name="analytics.batch").mock(side_effect=batch)
