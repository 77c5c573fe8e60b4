"""Fake analytics service: accepts event batches unless it is down."""

import json

import httpx
import respx

from app.mocks.fakes import FakeServices, json_object
from app.mocks.store import Tx

SERVICE = "analytics"


def batch(tx: Tx, request: httpx.Request) -> httpx.Response:
    payload: dict[str, object]
    if tx.fault(SERVICE) == "down":
        payload = {"error": "unavailable", "message": "Analytics unavailable"}
        return httpx.Response(503, json=payload)
    events = json_object(request).get("events")
    if not isinstance(events, list):
        payload = {"error": "invalid_request", "message": "events must be a list"}
        return httpx.Response(400, json=payload)
    tx.add_events([json.dumps(event) for event in events if isinstance(event, dict)])
    return httpx.Response(202, json={"accepted": len(events)})


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /batch`` under ``base_url``."""
    base = base_url.rstrip("/")

    async def post_batch(request: httpx.Request) -> httpx.Response:
        return await fakes.handle(SERVICE, request, batch)

    router.post(f"{base}/batch", name="analytics.batch").mock(side_effect=post_batch)
