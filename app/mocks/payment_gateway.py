"""Fake payment gateway: idempotent charges and refunds, declines, outages, lost answers, holds.

Like real gateways, one Idempotency-Key names one request: reusing a charge's key for a
refund (or the reverse) is refused with 400, not answered from the other endpoint's cache.
``GET /charges/{key}`` looks a charge up by its key, which is how a client learns the
outcome of a charge whose answer it never got.
"""

from typing import Any, NoReturn

import anyio
import httpx
import respx

from app.db import utcnow
from app.mocks.fakes import FakeServices, idempotency_key, json_object, json_response
from app.mocks.store import CHARGE_PREFIX, Tx

SERVICE = "payment"
# The hold fault: a held charge re-reads the fault this often, and gives up holding after
# HOLD_LIMIT_S (a forgotten hold must not keep a shutdown waiting forever).
HOLD_POLL_S = 0.05
HOLD_LIMIT_S = 60.0
# Faults that act before the gateway answers: holding, never answering, answering late.
ANSWERED_LATER = frozenset({"hold", "timeout", "slow"})
DECLINED_TOKEN = "tok_declined"
ERROR_TOKEN = "tok_error"


def reused_key() -> httpx.Response:
    payload = {
        "error": "idempotency_key_reused",
        "message": "This Idempotency-Key was already used for another request",
    }
    return httpx.Response(400, json=payload)


def charge(tx: Tx, request: httpx.Request, fault: str) -> tuple[httpx.Response, bool]:
    """The gateway's answer, and whether it decided (and stored) a charge just now."""
    key = idempotency_key(request)
    if tx.replay("refund", key) is not None:
        return reused_key(), False
    if (stored := tx.replay("charge", key)) is not None:
        # The same key always gets the first answer: a retry never charges twice.
        return json_response(stored), False
    body = json_object(request)
    token = body.get("token")
    if fault == "error" or token == ERROR_TOKEN:
        # 5xx answers are not remembered: the client may retry with the same key.
        payload = {"error": "gateway_error", "message": "The gateway failed"}
        return httpx.Response(503, json=payload), False
    if not isinstance(token, str) or not token:
        payload = {"error": "invalid_request", "message": "token is required"}
        return httpx.Response(400, json=payload), False
    declined = fault == "decline" or token == DECLINED_TOKEN
    amount, currency = body.get("amount"), body.get("currency")
    metadata = body.get("metadata")
    order_id = metadata.get("order_id") if isinstance(metadata, dict) else None

    def answer(row_id: int) -> dict[str, Any]:
        if declined:
            return {"error": "card_declined", "message": "The card was declined"}
        return {
            "charge_id": f"{CHARGE_PREFIX}{row_id}",
            "status": "succeeded",
            "amount": amount,
            "currency": currency,
        }

    decided = tx.accept(
        "charge",
        key=key,
        status=402 if declined else 200,
        answer=answer,
        at=utcnow().isoformat(),
        amount=None if amount is None else str(amount),
        currency=currency if isinstance(currency, str) else None,
        order_id=order_id if isinstance(order_id, int) else None,
    )
    return json_response(decided), True


def refund(tx: Tx, request: httpx.Request) -> httpx.Response:
    key = idempotency_key(request)
    if tx.replay("charge", key) is not None:
        return reused_key()
    if (stored := tx.replay("refund", key)) is not None:
        return json_response(stored)
    charge_id = json_object(request).get("charge_id")
    if not tx.charged(charge_id):
        payload = {"error": "unknown_charge", "message": "No such charge"}
        return httpx.Response(404, json=payload)
    answer = tx.accept(
        "refund",
        key=key,
        status=200,
        answer=lambda row_id: {
            "refund_id": f"re_{row_id}",
            "charge_id": charge_id,
            "status": "succeeded",
        },
        at=utcnow().isoformat(),
        charge_id=str(charge_id),
    )
    return json_response(answer)


def lookup(tx: Tx, key: str, fault: str) -> httpx.Response:
    if fault == "error":
        payload = {"error": "gateway_error", "message": "The gateway failed"}
        return httpx.Response(503, json=payload)
    stored = tx.replay("charge", key) if key else None
    if stored is None:
        return httpx.Response(404, json={"error": "not_found"})
    status, response = stored
    found = {"idempotency_key": key, "status_code": status, "response": response}
    return httpx.Response(200, json=found)


async def released(fakes: FakeServices) -> str:
    """Wait while the payment fault is ``hold``; the fault that replaced it ("ok" if none).

    The fault lives in the fakes' database, so ``PUT /demo/faults`` or any process
    writing that file (a test, while the server shuts down) releases the charge.
    """
    with anyio.move_on_after(HOLD_LIMIT_S):
        # Polled: another process may change the fault, no in-process event tells.
        while (fault := await fakes.fault_of(SERVICE)) == "hold":  # noqa: ASYNC110
            await anyio.sleep(HOLD_POLL_S)
        return fault
    return "ok"


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /charge``, ``POST /refund`` and ``GET /charges/{key}``."""
    base = base_url.rstrip("/")
    charges_path = httpx.URL(f"{base}/charges/").path

    async def no_answer(request: httpx.Request) -> NoReturn:
        """The ``timeout`` fault: the request never reached the gateway."""
        await fakes.record(SERVICE, request, None)
        raise httpx.ReadTimeout("payment gateway did not answer", request=request)

    def answer_charge(
        tx: Tx, request: httpx.Request, fault: str
    ) -> httpx.Response | None:
        response, decided = charge(tx, request, fault)
        # lost_answer: the charge is made and stored, then the answer goes missing;
        # a retry with the same key is a replay, and its answer gets through.
        lost = fault == "lost_answer" and decided
        fakes.record_in(tx, SERVICE, request, None if lost else response.status_code)
        return None if lost else response

    async def post_charge(request: httpx.Request) -> httpx.Response:
        def at_once(tx: Tx) -> tuple[str, httpx.Response | None]:
            # Usually one transaction reads the fault and answers; a fault that acts
            # before the gateway answers is only read here.
            fault = tx.fault(SERVICE)
            if fault in ANSWERED_LATER:
                return fault, None
            return fault, answer_charge(tx, request, fault)

        fault, response = await fakes.write(at_once)
        if fault in ANSWERED_LATER:
            if fault == "hold":
                fault = await released(fakes)
            if fault == "timeout":
                await no_answer(request)
            if fault == "slow":
                # Nothing is stored before the gateway answers.
                await anyio.sleep(fakes.payment_slow_s)
            response = await fakes.write(lambda tx: answer_charge(tx, request, fault))
        if response is None:
            raise httpx.ReadTimeout("the gateway's answer was lost", request=request)
        return response

    async def post_refund(request: httpx.Request) -> httpx.Response:
        return await fakes.handle(SERVICE, request, refund)

    async def get_charge(request: httpx.Request) -> httpx.Response:
        fault = await fakes.fault_of(SERVICE)
        if fault == "timeout":
            await no_answer(request)
        key = request.url.path.removeprefix(charges_path)
        return await fakes.handle(
            SERVICE, request, lambda tx, _request: lookup(tx, key, fault)
        )

    router.post(f"{base}/charge", name="payment.charge").mock(side_effect=post_charge)
    router.post(f"{base}/refund", name="payment.refund").mock(side_effect=post_refund)
    router.get(url__startswith=f"{base}/charges/", name="payment.get_charge").mock(
        side_effect=get_charge
    )
