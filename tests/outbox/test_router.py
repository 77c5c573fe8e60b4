"""``GET /outbox``: operators see what was promised and how its delivery went."""

import httpx
import pytest
from fastapi import FastAPI

from app.mocks import FakeServices
from fastapi_tasks.testing import wait_for_tasks
from tests.orders.helpers import an_order_payload

pytestmark = pytest.mark.anyio


async def test_outbox_counts_and_lists_rows_without_their_payload(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    await client.post("/orders", json=an_order_payload())
    await client.post("/orders", json=an_order_payload(payment_token="tok_declined"))
    await wait_for_tasks(app, timeout=5)

    body = (await client.get("/outbox")).json()

    assert body["counts"] == {"pending": 0, "sent": 4, "failed": 0, "superseded": 0}
    ids = [m["message_id"] for m in body["messages"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert sorted(
        (m["subject_id"], m["kind"], m["topic"]) for m in body["messages"]
    ) == [
        (1, "email", "order_confirmation"),
        (1, "warehouse", "shipment"),
        (2, "alert", "alert"),
        (2, "email", "order_payment_failed"),
    ]
    assert "ada@example.com" not in str(body)
    failed_only = (await client.get("/outbox", params={"status": "failed"})).json()
    assert failed_only["messages"] == []
