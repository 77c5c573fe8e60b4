"""Fake warehouse: accepts shipment requests unless it is down.

A repeated ``Idempotency-Key`` gets the first answer (same shipment id) and prepares no
second shipment. Faults apply first, so a 503 is never stored as the key's answer.
"""

import json

import httpx
import respx

from app.db import utcnow
from app.mocks.fakes import FakeServices, idempotency_key, json_object, json_response
from app.mocks.store import Tx

SERVICE = "warehouse"


def prepare_shipment(tx: Tx, request: httpx.Request) -> httpx.Response:
    if tx.fault(SERVICE) == "down":
        payload = {"error": "unavailable", "message": "Warehouse unavailable"}
        return httpx.Response(503, json=payload)
    key = idempotency_key(request)
    if (stored := tx.replay("shipment", key)) is not None:
        return json_response(stored)
    body = json_object(request)
    order_id = body.get("order_id")
    items = body.get("items")
    answer = tx.accept(
        "shipment",
        key=key,
        status=202,
        answer=lambda row_id: {"shipment_id": f"shp_{row_id}", "status": "preparing"},
        at=utcnow().isoformat(),
        order_id=order_id if isinstance(order_id, int) else None,
        items=json.dumps(items if isinstance(items, list) else []),
    )
    return json_response(answer)


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /prepare-shipment`` under ``base_url``."""
    base = base_url.rstrip("/")

    async def prepare(request: httpx.Request) -> httpx.Response:
        return await fakes.handle(SERVICE, request, prepare_shipment)

    router.post(f"{base}/prepare-shipment", name="warehouse.prepare_shipment").mock(
        side_effect=prepare
    )
