"""Fake e-mail service: accepts into the outbox, or is down, or flaky.

``flaky``: the first attempt of each message (each Idempotency-Key) fails with 503 and its
retry gets through; requests without a key fail every other call. Per message, so that a
message's retries never keep landing on the failing half under concurrency.

A repeated ``Idempotency-Key`` gets the first answer (same message id) and is not added to
the outbox again: the customer gets the e-mail once. Faults apply first, so a 503 is never
stored as the key's answer.
"""

import json

import httpx
import respx

from app.db import utcnow
from app.mocks.fakes import FakeServices, idempotency_key, json_object, json_response
from app.mocks.store import Tx

SERVICE = "email"


def _flaky_fails(tx: Tx, key: str | None) -> bool:
    if key is None:
        return tx.bump("email_attempt") % 2 == 1  # counted across workers
    return tx.first_attempt(key)


def send(tx: Tx, request: httpx.Request) -> httpx.Response:
    fault = tx.fault(SERVICE)
    key = idempotency_key(request)
    if fault == "down" or (fault == "flaky" and _flaky_fails(tx, key)):
        payload = {"error": "unavailable", "message": "E-mail service unavailable"}
        return httpx.Response(503, json=payload)
    if (stored := tx.replay("email", key)) is not None:
        return json_response(stored)
    body = json_object(request)
    if not {"to", "subject", "template"} <= body.keys():
        payload = {"error": "invalid_request", "message": "to, subject, template"}
        return httpx.Response(400, json=payload)
    answer = tx.accept(
        "email",
        key=key,
        status=202,
        answer=lambda row_id: {"id": f"msg_{row_id}", "status": "queued"},
        at=utcnow().isoformat(),
        to_address=str(body["to"]),
        subject=str(body["subject"]),
        template=str(body["template"]),
        data=json.dumps(body.get("data") or {}),
    )
    return json_response(answer)


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /send`` under ``base_url``."""
    base = base_url.rstrip("/")

    async def send_email(request: httpx.Request) -> httpx.Response:
        return await fakes.handle(SERVICE, request, send)

    router.post(f"{base}/send", name="email.send").mock(side_effect=send_email)
