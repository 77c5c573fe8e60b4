"""Fake warehouse: accepts shipment requests unless it is down."""

import httpx
import respx

from app.mocks.fakes import FakeServices

SERVICE = "warehouse"


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /prepare-shipment`` under ``base_url``."""
    base = base_url.rstrip("/")

    def prepare_shipment(request: httpx.Request) -> httpx.Response:
        if fakes.faults.warehouse == "down":
            payload = {"error": "unavailable", "message": "Warehouse unavailable"}
            return fakes.respond(SERVICE, request, httpx.Response(503, json=payload))
        payload = {"shipment_id": fakes.next_id("shp"), "status": "preparing"}
        return fakes.respond(SERVICE, request, httpx.Response(202, json=payload))

    router.post(f"{base}/prepare-shipment", name="warehouse.prepare_shipment").mock(
        side_effect=prepare_shipment
    )
