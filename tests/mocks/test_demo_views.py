"""``/demo`` reads the fakes' file: payments, shipments, and state across a restart."""

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.mocks import FakeServices
from fastapi_tasks.testing import wait_for_tasks
from tests.mocks.helpers import PAYMENTS, WAREHOUSE, a_charge, key, talking_to
from tests.orders.helpers import an_order_payload

pytestmark = pytest.mark.anyio


async def test_payments_and_shipments_list_what_the_fakes_accepted(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    fakes: FakeServices = app.state.fakes
    async with talking_to(fakes, settings) as http:
        paid = await http.post(f"{PAYMENTS}/charge", json=a_charge(1), headers=key("1"))
        await http.post(
            f"{PAYMENTS}/charge", json=a_charge(2, "tok_declined"), headers=key("2")
        )
        body = {"charge_id": paid.json()["charge_id"], "amount": "59.98"}
        refund = await http.post(
            f"{PAYMENTS}/refund", json=body, headers=key("refund-1")
        )
        shipment = {"order_id": 1, "items": [{"sku": 1, "qty": 2}]}
        shipped = await http.post(
            f"{WAREHOUSE}/prepare-shipment", json=shipment, headers=key("ship-1")
        )

    payments = (await client.get("/demo/payments")).json()
    shipments = (await client.get("/demo/shipments")).json()

    assert payments == {
        "charges": [
            {
                "idempotency_key": "1",
                "status_code": 200,
                "charge_id": paid.json()["charge_id"],
                "amount": "59.98",
                "order_id": 1,
            },
            {
                "idempotency_key": "2",
                "status_code": 402,
                "charge_id": None,
                "amount": "59.98",
                "order_id": 2,
            },
        ],
        "refunds": [
            {
                "idempotency_key": "refund-1",
                "charge_id": paid.json()["charge_id"],
                "refund_id": refund.json()["refund_id"],
            }
        ],
    }
    [listed] = shipments
    assert set(listed) == {"order_id", "items", "idempotency_key", "shipment_id", "at"}
    assert (listed["order_id"], listed["shipment_id"]) == (
        1,
        shipped.json()["shipment_id"],
    )


async def test_a_restarted_app_shows_the_faults_and_calls_of_the_last_run(
    settings: Settings,
) -> None:
    for run in range(2):
        app = create_app(settings)
        async with (
            LifespanManager(app) as manager,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app), base_url="http://test"
            ) as client,
        ):
            if run == 0:
                await client.put("/demo/faults", json={"warehouse": "down"})
                async with talking_to(app.state.fakes, settings) as http:
                    await http.post(f"{WAREHOUSE}/prepare-shipment", json={})
            else:
                faults = (await client.get("/demo/faults")).json()
                calls = await client.get("/demo/calls", params={"limit": 1})
        app.state.fakes.close()

    assert faults["warehouse"] == "down"
    assert [(c["service"], c["status"]) for c in calls.json()] == [("warehouse", 503)]
    assert calls.headers["x-total-count"] == "1"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("thumbnail.jpg", "image/jpeg"), ("page.html", "application/octet-stream")],
)
async def test_cdn_files_are_never_sniffed_and_run_nothing(
    client: httpx.AsyncClient, settings: Settings, name: str, media_type: str
) -> None:
    stored = settings.data_dir / "cdn" / "images" / "7" / "1" / name
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"<script>alert(1)</script>")

    response = await client.get(f"/demo/cdn/images/7/1/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert (
        response.headers["content-security-policy"]
        == "default-src 'none'; img-src 'self'; sandbox"
    )


async def test_options_on_demo_faults_names_get_and_put(
    client: httpx.AsyncClient,
) -> None:
    options = await client.options("/demo/faults")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, PUT"

    delete = await client.delete("/demo/faults")
    assert delete.status_code == 405
    assert delete.headers["allow"] == "GET, OPTIONS, PUT"
    assert delete.json() == {"detail": "Method Not Allowed"}
    # the routes themselves are untouched
    assert (await client.get("/demo/faults")).status_code == 200
    assert (await client.put("/demo/faults", json={"email": "ok"})).status_code == 200


async def test_the_method_answers_are_not_in_the_api_schema(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/demo/faults"]) == {"get", "put"}


@pytest.mark.parametrize(
    ("token", "warehouse_skipped"), [("tok_declined", True), ("tok_visa", False)]
)
async def test_a_task_that_had_nothing_to_do_is_listed_as_skipped(
    app: FastAPI, client: httpx.AsyncClient, token: str, warehouse_skipped: bool
) -> None:
    response = await client.post("/orders", json=an_order_payload(payment_token=token))
    assert response.status_code == 202
    await wait_for_tasks(app, timeout=5)

    tasks = {t["name"]: t for t in (await client.get("/demo/tasks")).json()}
    # A failed order promises the warehouse nothing: its task ran and delivered 0 rows.
    warehouse = tasks["orders.notify_warehouse"]
    assert (warehouse["state"], warehouse["skipped"]) == (
        "succeeded",
        warehouse_skipped,
    )
    # The customer's e-mail is sent either way; a task returning no count is never skipped.
    assert tasks["orders.send_order_email"]["skipped"] is False
    assert tasks["orders.charge_payment"]["skipped"] is False
