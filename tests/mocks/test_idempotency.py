"""E-mail, warehouse and alerts answer a repeated Idempotency-Key from their first answer."""

import anyio
import httpx
import pytest

from app.config import Settings
from app.mocks import FakeServices
from tests.mocks.helpers import ALERTS, EMAIL, WAREHOUSE, a_mail, key, talking_to

pytestmark = pytest.mark.anyio

SHIPMENT = {"order_id": 3, "items": [{"sku": 1, "qty": 2}]}


async def test_a_repeated_email_reaches_the_customer_once(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    first = await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("mail-3"))
    again = await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("mail-3"))
    other = await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("mail-4"))

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert other.json()["id"] != first.json()["id"]
    assert [m["idempotency_key"] for m in fakes.outbox] == ["mail-3", "mail-4"]
    assert len(fakes.calls_to("email")) == 3  # every call is still recorded


async def test_emails_without_a_key_are_each_sent(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    for _ in range(2):
        assert (await http.post(f"{EMAIL}/send", json=a_mail())).status_code == 202

    assert [m["idempotency_key"] for m in fakes.outbox] == [None, None]


async def test_an_email_refused_by_a_fault_is_not_remembered(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(email="flaky")  # the first call fails, the second gets through
    refused = await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("m"))
    accepted = await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("m"))
    fakes.set_faults(email="down")
    down = await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("m"))

    assert [refused.status_code, accepted.status_code, down.status_code] == [
        503,
        202,
        503,
    ]
    assert len(fakes.outbox) == 1


async def test_a_repeated_shipment_request_prepares_one_shipment(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(warehouse="down")
    down = await http.post(
        f"{WAREHOUSE}/prepare-shipment", json=SHIPMENT, headers=key("ship-3")
    )
    fakes.set_faults(warehouse="ok")
    first, again = [
        await http.post(
            f"{WAREHOUSE}/prepare-shipment", json=SHIPMENT, headers=key("ship-3")
        )
        for _ in range(2)
    ]

    assert down.status_code == 503
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    [shipment] = fakes.shipments
    assert shipment.model_dump(exclude={"at"}) == {
        "order_id": 3,
        "items": [{"sku": 1, "qty": 2}],
        "idempotency_key": "ship-3",
        "shipment_id": first.json()["shipment_id"],
    }


async def test_a_repeated_alert_is_acknowledged_without_a_second_page(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    alert = {"text": "order 3 stuck", "severity": "error"}
    fakes.set_faults(alerts="down")
    down = await http.post(f"{ALERTS}/alert", json=alert, headers=key("alert-3"))
    fakes.set_faults(alerts="ok")
    first = await http.post(f"{ALERTS}/alert", json=alert, headers=key("alert-3"))
    again = await http.post(f"{ALERTS}/alert", json=alert, headers=key("alert-3"))

    assert [down.status_code, first.status_code, again.status_code] == [503, 200, 200]
    assert again.json() == first.json() == {"ok": True}
    with fakes.store.read() as tx:
        assert tx.rows("alert")[0] == 1


async def test_two_workers_racing_on_one_key_send_one_email(
    fakes: FakeServices, fake_settings: Settings
) -> None:
    other = FakeServices(fakes.store.path)
    answers: list[httpx.Response] = []
    async with (
        talking_to(fakes, fake_settings) as first,
        talking_to(other, fake_settings) as second,
    ):

        async def send(http: httpx.AsyncClient) -> None:
            answers.append(
                await http.post(f"{EMAIL}/send", json=a_mail(), headers=key("race"))
            )

        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(send, first if n % 2 else second)

    assert {response.json()["id"] for response in answers} == {answers[0].json()["id"]}
    assert len(fakes.outbox) == 1
    other.close()
