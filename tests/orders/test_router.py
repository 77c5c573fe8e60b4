"""Orders over HTTP (in-process): contract shapes, validation, and each outcome's side effects."""

import logging

import httpx
import pytest
from fastapi import FastAPI

from app.mocks import FakeServices
from fastapi_tasks import get_registry
from fastapi_tasks.testing import wait_for_tasks
from tests.orders.helpers import (
    DESK_MAT,
    KEYBOARD,
    PRICES,
    SOLD_OUT,
    a_line,
    an_order_payload,
)
from tests.polling import poll

pytestmark = pytest.mark.anyio


async def place_and_settle(
    app: FastAPI, client: httpx.AsyncClient, **overrides: object
) -> dict[str, object]:
    response = await client.post(
        app.url_path_for("create_order"), json=an_order_payload(**overrides)
    )
    assert response.status_code == 202, response.text
    await wait_for_tasks(app, timeout=5)
    order_id = response.json()["order_id"]
    order: dict[str, object] = (
        await client.get(app.url_path_for("get_order", order_id=order_id))
    ).json()
    return order


async def test_products_lists_the_seeded_catalogue(client: httpx.AsyncClient) -> None:
    response = await client.get("/products")

    assert response.status_code == 200
    products = response.json()
    assert len(products) >= 5
    assert products[0] == {
        "product_id": 1,
        "name": "Mechanical keyboard",
        "price": 89.99,
        "available": 50,
    }
    assert {p["product_id"]: p["available"] for p in products}[DESK_MAT] == 12


async def test_create_order_answers_202_processing_with_an_exact_total(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/orders", json=an_order_payload())

    assert response.status_code == 202
    assert response.json() == {"order_id": 1, "status": "processing", "total": 59.97}
    assert '"total":59.97}' in response.text  # a JSON number, no float noise
    await wait_for_tasks(app, timeout=5)


async def test_confirmed_order_gets_one_confirmation_and_one_shipment(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    order = await place_and_settle(app, client)

    notifications = order.pop("notifications")
    assert [
        (n["kind"], n["topic"], n["status"], n["attempts"])
        for n in notifications  # type: ignore[attr-defined]
    ] == [
        ("email", "order_confirmation", "sent", 1),
        ("warehouse", "shipment", "sent", 1),
    ]
    assert order == {
        "order_id": 1,
        "user_id": 42,
        "email": "ada@example.com",
        "status": "confirmed",
        "payment_status": "succeeded",
        "inventory_status": "reserved",
        "total": 59.97,
        "items": [{"product_id": DESK_MAT, "quantity": 3, "price": 19.99}],
    }
    assert [mail["template"] for mail in fakes.outbox] == ["order_confirmation"]
    assert len(fakes.calls_to("warehouse")) == 1
    assert fakes.calls_to("warehouse")[0].body == {
        "order_id": 1,
        "items": [{"sku": DESK_MAT, "qty": 3}],
    }
    [charge] = fakes.calls_to("payment")
    assert charge.body["amount"] == "59.97"
    assert charge.body["metadata"] == {"order_id": 1}
    # Analytics goes through the tracker (buffered); the task that called it succeeded.
    tracked = [
        t for t in get_registry(app).recent if t.name == "orders.track_order_created"
    ]
    assert [t.state for t in tracked] == ["succeeded"]


async def test_declined_payment_releases_stock_alerts_and_sends_one_notice(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    order = await place_and_settle(app, client, payment_token="tok_declined")

    assert (order["status"], order["payment_status"]) == ("payment_failed", "failed")
    # stock is ample: reserved whatever the decline's timing, then given back
    assert order["inventory_status"] == "released"
    products = (await client.get("/products")).json()
    assert {p["product_id"]: p["available"] for p in products}[DESK_MAT] == 12
    assert [mail["template"] for mail in fakes.outbox] == ["order_payment_failed"]
    assert "declined" in fakes.outbox[0]["data"]["reason"]
    assert len(fakes.calls_to("alerts")) == 1
    assert fakes.calls_to("warehouse") == []


async def test_a_gateway_error_answer_fails_the_payment(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="error")

    order = await place_and_settle(app, client)

    assert order["status"] == "payment_failed"
    assert len(fakes.outbox) == 1
    assert len(fakes.calls_to("alerts")) == 1


async def test_a_lost_payment_answer_is_retried_with_the_same_key_not_declined(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="lost_answer")

    order = await place_and_settle(app, client)

    # Charged on the first request; the retry with the same key got the stored answer.
    assert (order["status"], order["payment_status"]) == ("confirmed", "succeeded")
    assert len(fakes.charges) == 1
    assert [mail["template"] for mail in fakes.outbox] == ["order_confirmation"]


async def poll_order(
    client: httpx.AsyncClient, order_id: int, until: set[str]
) -> dict[str, object]:
    async def settled() -> dict[str, object] | None:
        order: dict[str, object] = (await client.get(f"/orders/{order_id}")).json()
        return order if order["status"] in until else None

    found: dict[str, object] = await poll(settled)
    return found


@pytest.mark.parametrize(
    "settings_overrides", [{"sweep_interval_s": 0.05, "order_stuck_after_s": 0.05}]
)
async def test_an_unreachable_gateway_leaves_the_order_processing_until_it_answers(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="timeout")
    response = await client.post("/orders", json=an_order_payload())
    await wait_for_tasks(app, timeout=5)
    order_id = response.json()["order_id"]

    # Unknown is not failed: no decline booked, no e-mail, stock still held.
    order = (await client.get(f"/orders/{order_id}")).json()
    assert (order["status"], order["payment_status"]) == ("processing", "pending")
    assert fakes.outbox == []

    fakes.set_faults(payment="ok")  # the sweeper now asks the gateway by key
    order = await poll_order(client, order_id, {"payment_failed", "confirmed"})

    assert (order["status"], order["payment_status"]) == ("payment_failed", "failed")
    assert fakes.charges == {}

    async def emailed() -> list[str]:  # delivered just after the settlement commits
        return [mail["template"] for mail in fakes.outbox]

    assert await poll(emailed) == ["order_payment_failed"]


async def test_out_of_stock_refunds_the_charge_and_never_ships(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    order = await place_and_settle(
        app, client, items=[a_line(KEYBOARD), a_line(SOLD_OUT)]
    )

    assert order["status"] == "inventory_failed"
    assert order["payment_status"] == "refunded"
    assert order["inventory_status"] == "failed"
    refund = fakes.calls_to("payment")[-1]
    assert refund.url.endswith("/refund")
    assert [mail["template"] for mail in fakes.outbox] == ["order_out_of_stock"]
    assert fakes.calls_to("warehouse") == []
    products = (await client.get("/products")).json()
    assert {p["product_id"]: p["available"] for p in products}[KEYBOARD] == 50


async def test_flaky_email_still_sends_exactly_one(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(email="flaky")

    await place_and_settle(app, client)

    assert len(fakes.outbox) == 1
    assert [call.status for call in fakes.calls_to("email")] == [503, 202]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"items": []}, "items"),
        ({"items": [a_line(DESK_MAT, quantity=0)]}, "quantity"),
        ({"email": "not-an-email"}, "email"),
        ({"user_id": 0}, "user_id"),
        ({"items": [a_line(DESK_MAT, price=19.999)]}, "price"),
        # beyond SQLite's 64-bit integers: was an OverflowError in the driver (a 500)
        ({"user_id": 2**63}, "user_id"),
        ({"items": [{"product_id": 2**63, "quantity": 1, "price": 1}]}, "product_id"),
    ],
)
async def test_invalid_orders_are_422(
    client: httpx.AsyncClient, change: dict[str, object], needle: str
) -> None:
    response = await client.post("/orders", json=an_order_payload(**change))

    assert response.status_code == 422
    assert needle in str(response.json()["detail"])


async def test_a_price_that_differs_from_the_catalogue_is_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/orders", json=an_order_payload(items=[a_line(DESK_MAT, price=0.01)])
    )

    assert response.status_code == 422
    assert response.json() == {
        "detail": f"Price of product {DESK_MAT} is {PRICES[DESK_MAT]}, not 0.01"
    }


async def test_an_unknown_product_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/orders",
        json=an_order_payload(items=[{"product_id": 999, "quantity": 1, "price": 1}]),
    )

    assert response.status_code == 422
    assert response.json() == {"detail": "Unknown product 999"}


async def test_validation_errors_never_echo_the_payment_token(
    client: httpx.AsyncClient,
) -> None:
    payload = an_order_payload(payment_token="tok_very_secret_123")
    del payload["user_id"]

    response = await client.post("/orders", json=payload)

    assert response.status_code == 422
    assert "tok_very_secret_123" not in response.text


async def test_unknown_order_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders/999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Order not found"}
    # beyond SQLite's 64-bit integers: was an OverflowError in the driver (a 500)
    assert (await client.get(f"/orders/{2**63}")).status_code == 422


async def test_the_payment_token_never_reaches_a_log(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    await place_and_settle(app, client, payment_token="tok_declined")
    await place_and_settle(app, client, payment_token="tok_error")
    order = await place_and_settle(app, client, payment_token="tok_logged_nowhere")

    assert order["status"] == "confirmed"
    assert "payment" in caplog.text  # the failures were logged...
    for secret in ("tok_declined", "tok_error", "tok_logged_nowhere"):
        assert secret not in caplog.text  # ...without the token


async def test_fifty_out_of_stock_orders_log_no_error_and_no_traceback(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Selling out is a business outcome: one INFO line per order, never an ERROR with a
    # traceback (that is for bugs; 1,500 such orders once wrote 9.5 MB of log).
    caplog.set_level(logging.DEBUG)
    for _ in range(50):
        response = await client.post(
            app.url_path_for("create_order"),
            json=an_order_payload(items=[a_line(SOLD_OUT)]),
        )
        assert response.status_code == 202
    await wait_for_tasks(app, timeout=5)

    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    shortages = [
        r
        for r in caplog.records
        if r.name == "app.orders.pipeline" and "out of stock" in r.getMessage()
    ]
    assert len(shortages) == 50
    assert {r.levelno for r in shortages} == {logging.INFO}
    last = (await client.get(app.url_path_for("get_order", order_id="50"))).json()
    assert (last["status"], last["inventory_status"]) == ("inventory_failed", "failed")


async def test_a_declined_card_logs_no_error_and_no_traceback(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    order = await place_and_settle(app, client, payment_token="tok_declined")

    assert (order["status"], order["payment_status"]) == ("payment_failed", "failed")
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert any("payment declined" in r.getMessage() for r in caplog.records)
