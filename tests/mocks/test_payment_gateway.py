"""The fake gateway: idempotent charges, lost answers, holds, and the lookup by key."""

from pathlib import Path

import anyio
import httpx
import pytest

from app.mocks import FakeServices
from tests.mocks.helpers import PAYMENTS, a_charge, key
from tests.polling import within

pytestmark = pytest.mark.anyio


async def lookup(http: httpx.AsyncClient, idempotency_key: str) -> httpx.Response:
    return await http.get(f"{PAYMENTS}/charges/{idempotency_key}")


async def test_a_lost_answer_charges_once_and_the_retry_gets_the_stored_answer(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="lost_answer")
    with pytest.raises(httpx.ReadTimeout):
        await http.post(f"{PAYMENTS}/charge", json=a_charge(5), headers=key("5"))
    found = await lookup(http, "5")
    retry = await http.post(f"{PAYMENTS}/charge", json=a_charge(5), headers=key("5"))

    assert retry.status_code == 200
    assert retry.json()["status"] == "succeeded"
    assert found.status_code == 200
    assert found.json() == {
        "idempotency_key": "5",
        "status_code": 200,
        "response": retry.json(),
    }
    assert [c.status for c in fakes.calls_to("payment")] == [None, 200, 200]
    assert [(c.order_id, c.charge_id) for c in fakes.payments.charges] == [
        (5, retry.json()["charge_id"])
    ]


async def test_a_lost_decline_is_stored_as_a_decline(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="lost_answer")
    with pytest.raises(httpx.ReadTimeout):
        await http.post(
            f"{PAYMENTS}/charge", json=a_charge(6, "tok_declined"), headers=key("6")
        )

    found = (await lookup(http, "6")).json()
    assert (found["status_code"], found["response"]["error"]) == (402, "card_declined")
    assert fakes.charges["6"][0] == 402


async def test_lookup_of_an_unknown_key_is_404(http: httpx.AsyncClient) -> None:
    response = await lookup(http, "never-charged")
    assert (response.status_code, response.json()) == (404, {"error": "not_found"})


async def test_lookups_fail_with_the_error_and_timeout_faults(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    await http.post(f"{PAYMENTS}/charge", json=a_charge(8), headers=key("8"))
    fakes.set_faults(payment="error")
    assert (await lookup(http, "8")).status_code == 503
    fakes.set_faults(payment="timeout")
    with pytest.raises(httpx.ReadTimeout):
        await lookup(http, "8")
    fakes.set_faults(payment="decline")  # only charges are declined
    assert (await lookup(http, "8")).json()["status_code"] == 200


async def test_a_timeout_charges_nothing(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="timeout")
    with pytest.raises(httpx.ReadTimeout):
        await http.post(f"{PAYMENTS}/charge", json=a_charge(9), headers=key("9"))
    fakes.set_faults(payment="ok")

    assert fakes.charges == {}
    assert (await lookup(http, "9")).status_code == 404
    assert [c.status for c in fakes.calls_to("payment")] == [None, 404]


async def test_slow_answers_then_charges(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    fakes.set_faults(payment="slow")  # payment_slow_s is 0.01 in these tests
    response = await http.post(
        f"{PAYMENTS}/charge", json=a_charge(10), headers=key("10")
    )
    assert response.status_code == 200
    assert fakes.charges["10"] == (200, response.json())


async def test_refunds_need_a_charge_and_are_idempotent(
    http: httpx.AsyncClient, fakes: FakeServices
) -> None:
    charge = await http.post(f"{PAYMENTS}/charge", json=a_charge(11), headers=key("11"))
    charge_id = charge.json()["charge_id"]
    body = {"charge_id": charge_id, "amount": "59.98"}
    unknown = await http.post(
        f"{PAYMENTS}/refund", json={"charge_id": "ch_999"}, headers=key("refund-x")
    )
    reused = await http.post(f"{PAYMENTS}/refund", json=body, headers=key("11"))
    first, again = [
        await http.post(f"{PAYMENTS}/refund", json=body, headers=key("refund-11"))
        for _ in range(2)
    ]

    assert (unknown.status_code, reused.status_code) == (404, 400)
    assert first.json() == again.json()
    assert [r.model_dump() for r in fakes.payments.refunds] == [
        {
            "idempotency_key": "refund-11",
            "charge_id": charge_id,
            "refund_id": first.json()["refund_id"],
        }
    ]
    assert fakes.refunds["refund-11"] == (200, first.json())


async def test_a_held_charge_waits_until_another_process_changes_the_fault(
    http: httpx.AsyncClient, fakes: FakeServices, fakes_db: Path
) -> None:
    fakes.set_faults(payment="hold")
    answers: list[httpx.Response] = []
    answered = anyio.Event()

    async def charge() -> None:
        answers.append(
            await http.post(f"{PAYMENTS}/charge", json=a_charge(3), headers=key("3"))
        )
        answered.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(charge)
        for _ in range(3):  # several re-reads of the fault: still held
            await within(anyio.wait_all_tasks_blocked())
            await anyio.sleep(0.06)
        assert not answered.is_set()
        assert fakes.charges == {}
        # Another connection to the same file, as a test beside a running server does.
        other = FakeServices(fakes_db)
        other.set_faults(payment="decline")
        other.close()
        await within(answered.wait())

    [answer] = answers
    assert answer.status_code == 402  # answered under the fault that replaced the hold
    assert list(fakes.charges) == ["3"]
