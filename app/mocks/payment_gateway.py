"""Fake payment gateway: idempotent charges and refunds, declines, outages, slowness.

Like real gateways, one Idempotency-Key names one request: reusing a charge's key for a
refund (or the reverse) is refused with 400, not answered from the other endpoint's cache.
"""

import json
from typing import Any

import anyio
import httpx
import respx

from app.mocks.fakes import FakeServices

SERVICE = "payment"
DECLINED_TOKEN = "tok_declined"
ERROR_TOKEN = "tok_error"


def _json(request: httpx.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /charge`` and ``POST /refund`` under ``base_url``."""
    base = base_url.rstrip("/")

    async def charge(request: httpx.Request) -> httpx.Response:
        fault = fakes.faults.payment
        if fault == "timeout":
            fakes.record(SERVICE, request, None)
            raise httpx.ReadTimeout("payment gateway did not answer", request=request)
        if fault == "slow":
            await anyio.sleep(fakes.payment_slow_s)
        key = request.headers.get("idempotency-key")
        if key is not None and key in fakes.refunds:
            return reused_key(request)
        if key is not None and key in fakes.charges:
            # The same key always gets the first answer: a retry never charges twice.
            status, payload = fakes.charges[key]
            return fakes.respond(SERVICE, request, httpx.Response(status, json=payload))
        body = _json(request)
        token = body.get("token")
        if fault == "error" or token == ERROR_TOKEN:
            # 5xx answers are not remembered: the client may retry with the same key.
            payload = {"error": "gateway_error", "message": "The gateway failed"}
            return fakes.respond(SERVICE, request, httpx.Response(503, json=payload))
        if not isinstance(token, str) or not token:
            payload = {"error": "invalid_request", "message": "token is required"}
            return fakes.respond(SERVICE, request, httpx.Response(400, json=payload))
        if fault == "decline" or token == DECLINED_TOKEN:
            status = 402
            payload = {"error": "card_declined", "message": "The card was declined"}
        else:
            status = 200
            payload = {
                "charge_id": fakes.next_id("ch"),
                "status": "succeeded",
                "amount": body.get("amount"),
                "currency": body.get("currency"),
            }
        if key is not None:
            fakes.charges[key] = (status, payload)
        return fakes.respond(SERVICE, request, httpx.Response(status, json=payload))

    def reused_key(request: httpx.Request) -> httpx.Response:
        payload = {
            "error": "idempotency_key_reused",
            "message": "This Idempotency-Key was already used for another request",
        }
        return fakes.respond(SERVICE, request, httpx.Response(400, json=payload))

    def refund(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        if key is not None and key in fakes.charges:
            return reused_key(request)
        if key is not None and key in fakes.refunds:
            status, payload = fakes.refunds[key]
            return fakes.respond(SERVICE, request, httpx.Response(status, json=payload))
        body = _json(request)
        charge_id = body.get("charge_id")
        known = {answer[1].get("charge_id") for answer in fakes.charges.values()}
        if charge_id not in known:
            payload = {"error": "unknown_charge", "message": "No such charge"}
            return fakes.respond(SERVICE, request, httpx.Response(404, json=payload))
        status = 200
        payload = {
            "refund_id": fakes.next_id("re"),
            "charge_id": charge_id,
            "status": "succeeded",
        }
        if key is not None:
            fakes.refunds[key] = (status, payload)
        return fakes.respond(SERVICE, request, httpx.Response(status, json=payload))

    router.post(f"{base}/charge", name="payment.charge").mock(side_effect=charge)
    router.post(f"{base}/refund", name="payment.refund").mock(side_effect=refund)
