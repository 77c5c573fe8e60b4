"""Fake alert webhook: accepts ``{"text": ...}`` unless it is down.

A repeated ``Idempotency-Key`` gets the first answer and pages nobody twice. Faults apply
first, so a 503 is never stored as the key's answer.
"""

import httpx
import respx

from app.db import utcnow
from app.mocks.fakes import FakeServices, idempotency_key, json_object, json_response
from app.mocks.store import Tx

SERVICE = "alerts"


def alert(tx: Tx, request: httpx.Request) -> httpx.Response:
    if tx.fault(SERVICE) == "down":
        payload = {"error": "unavailable", "message": "Alert webhook unavailable"}
        return httpx.Response(503, json=payload)
    key = idempotency_key(request)
    if (stored := tx.replay("alert", key)) is not None:
        return json_response(stored)
    text = json_object(request).get("text")
    answer = tx.accept(
        "alert",
        key=key,
        status=200,
        answer=lambda _row_id: {"ok": True},
        at=utcnow().isoformat(),
        text=text if isinstance(text, str) else None,
    )
    return json_response(answer)


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /alert`` under ``base_url``."""
    base = base_url.rstrip("/")

    async def post_alert(request: httpx.Request) -> httpx.Response:
        return await fakes.handle(SERVICE, request, alert)

    router.post(f"{base}/alert", name="alerts.alert").mock(side_effect=post_alert)
