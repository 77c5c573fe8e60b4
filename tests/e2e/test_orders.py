"""Orders against the real server (uvicorn on 127.0.0.1): every outcome, concurrency, SIGTERM."""

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from app.mocks import FakeServices
from tests.e2e.server import STOP_DEADLINE_S, ServerProcess, running_server
from tests.polling import poll, within

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SCARCE_PRODUCT = 5  # stock 12 in the seed
SOLD_OUT_PRODUCT = 6  # stock 0 in the seed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("orders-e2e")) as running:
        yield running


# What uvicorn prints once SIGTERM's graceful shutdown reaches the app's lifespan, where
# the task library cancels unshielded tasks and drains shielded ones. (Its earlier
# "Shutting down" comes ~0.1 s before: a charge released then needs no shield.)
SHUTDOWN_LINE = "Waiting for application shutdown"


async def shutting_down(server: ServerProcess) -> bool:
    return SHUTDOWN_LINE in server.output()


async def catalogue(http: httpx.AsyncClient) -> dict[int, dict[str, Any]]:
    products = (await http.get("/products")).json()
    return {product["product_id"]: product for product in products}


def order_payload(
    product: dict[str, Any], *, quantity: int = 1, token: str = "tok_visa"
) -> dict[str, Any]:
    return {
        "user_id": 7,
        "email": "buyer@example.com",
        "items": [
            {
                "product_id": product["product_id"],
                "quantity": quantity,
                "price": product["price"],
            }
        ],
        "payment_token": token,
    }


async def settled(http: httpx.AsyncClient, order_id: int) -> dict[str, Any]:
    """The order once it left ``processing`` and its one e-mail went out."""

    async def check() -> dict[str, Any] | None:
        order = (await http.get(f"/orders/{order_id}")).json()
        if order["status"] == "processing" or not await emails_for(http, order_id):
            return None
        result: dict[str, Any] = order
        return result

    result: dict[str, Any] = await poll(check)
    return result


async def emails_for(http: httpx.AsyncClient, order_id: int) -> list[dict[str, Any]]:
    outbox = (await http.get("/demo/outbox")).json()
    return [mail for mail in outbox if mail["data"].get("order_id") == order_id]


async def calls_for(
    http: httpx.AsyncClient, service: str, order_id: int
) -> list[dict[str, Any]]:
    calls = (await http.get("/demo/calls", params={"service": service})).json()
    found = []
    for call in calls:
        body = call["body"] or {}
        ids = {body.get("order_id"), (body.get("metadata") or {}).get("order_id")}
        if order_id in ids or f"order {order_id}" in str(body.get("text", "")):
            found.append(call)
    return found


async def test_order_is_charged_reserved_confirmed_and_shipped(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        keyboard = (await catalogue(http))[1]

        response = await http.post("/orders", json=order_payload(keyboard, quantity=2))
        assert response.status_code == 202
        accepted = response.json()
        assert accepted["status"] == "processing"
        assert accepted["total"] == 179.98  # exact: 2 x 89.99, no float noise

        order = await settled(http, accepted["order_id"])
        assert order["status"] == "confirmed"
        assert order["payment_status"] == "succeeded"
        assert order["inventory_status"] == "reserved"
        assert (await catalogue(http))[1]["available"] == keyboard["available"] - 2
        [mail] = await emails_for(http, order["order_id"])
        assert mail["template"] == "order_confirmation"
        await poll(lambda: calls_for(http, "warehouse", order["order_id"]))
        [charge] = await calls_for(http, "payment", order["order_id"])
        assert charge["body"]["token"] == "***redacted***"


async def test_declined_card_fails_the_order_and_gives_the_stock_back(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        hub = (await catalogue(http))[3]

        response = await http.post(
            "/orders", json=order_payload(hub, quantity=3, token="tok_declined")
        )
        order = await settled(http, response.json()["order_id"])

        assert order["status"] == "payment_failed"
        assert order["payment_status"] == "failed"
        # stock is ample: reserved whatever the decline's timing, then given back
        assert order["inventory_status"] == "released"
        assert (await catalogue(http))[3]["available"] == hub["available"]
        [mail] = await emails_for(http, order["order_id"])
        assert mail["template"] == "order_payment_failed"
        assert (
            len(await poll(lambda: calls_for(http, "alerts", order["order_id"]))) == 1
        )
        assert await calls_for(http, "warehouse", order["order_id"]) == []


async def test_sold_out_product_fails_inventory_and_refunds_the_charge(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        headphones = (await catalogue(http))[SOLD_OUT_PRODUCT]

        response = await http.post("/orders", json=order_payload(headphones))
        order = await settled(http, response.json()["order_id"])

        assert order["status"] == "inventory_failed"
        assert order["payment_status"] == "refunded"
        assert order["inventory_status"] == "failed"
        calls = await calls_for(http, "payment", order["order_id"])
        assert [call["url"].rsplit("/", 1)[1] for call in calls] == ["charge", "refund"]
        [mail] = await emails_for(http, order["order_id"])
        assert mail["template"] == "order_out_of_stock"
        assert mail["data"]["refunded"] is True
        assert await calls_for(http, "warehouse", order["order_id"]) == []


async def test_concurrent_orders_never_oversell(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        desk_mat = (await catalogue(http))[SCARCE_PRODUCT]
        assert desk_mat["available"] == 12
        order_ids: list[int] = []

        async def place() -> None:
            response = await http.post("/orders", json=order_payload(desk_mat))
            assert response.status_code == 202
            order_ids.append(response.json()["order_id"])

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(place)

        orders = [await settled(http, order_id) for order_id in order_ids]
        statuses = sorted(order["status"] for order in orders)
        assert statuses.count("confirmed") == 12
        assert statuses.count("inventory_failed") == 8
        assert all(
            o["payment_status"] == "refunded"
            for o in orders
            if o["status"] == "inventory_failed"
        )
        assert (await catalogue(http))[SCARCE_PRODUCT]["available"] == 0


async def test_sigterm_while_a_charge_is_held_lets_it_finish(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    with running_server(data_dir) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            # The gateway holds every charge until its fault changes: the signal
            # lands while the charge is in flight, whatever the machine's speed.
            held = await http.put("/demo/faults", json={"payment": "hold"})
            assert held.status_code == 200
            monitor = (await catalogue(http))[4]
            response = await http.post("/orders", json=order_payload(monitor))
            order_id = response.json()["order_id"]

            async def payment_running() -> bool:
                tasks = (await http.get("/demo/tasks")).json()
                return any(
                    t["name"] == "orders.charge_payment" and t["state"] == "running"
                    for t in tasks
                )

            await poll(payment_running)

        server.process.send_signal(signal.SIGTERM)
        await poll(lambda: shutting_down(server))
        # The lifespan's shutdown has begun and the charge is still held: nothing decided.
        fakes = FakeServices(data_dir / "fakes.db")
        try:
            assert fakes.charges == {}
            # Release it through the fakes' file (the server takes no requests now).
            fakes.set_faults(payment="ok")
        finally:
            fakes.close()
        exit_code = await within(
            anyio.to_thread.run_sync(server.process.wait), deadline_s=STOP_DEADLINE_S
        )
        assert exit_code == 0
        output = server.output()
        settled_line = f"order {order_id} settled: confirmed"
        assert settled_line in output
        assert output.index(SHUTDOWN_LINE) < output.index(settled_line)

    with running_server(data_dir) as restarted:
        async with httpx.AsyncClient(base_url=restarted.base_url) as http:
            order = (await http.get(f"/orders/{order_id}")).json()
    assert order["status"] == "confirmed"
    assert order["payment_status"] == "succeeded"
    assert order["inventory_status"] == "reserved"
