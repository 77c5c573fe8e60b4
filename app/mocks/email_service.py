"""Fake e-mail service: accepts into the outbox, or is down, or fails every other call."""

import json

import httpx
import respx

from app.db import utcnow
from app.mocks.fakes import FakeServices

SERVICE = "email"


def install(router: respx.Router, fakes: FakeServices, base_url: str) -> None:
    """Register ``POST /send`` under ``base_url``."""
    base = base_url.rstrip("/")

    def send(request: httpx.Request) -> httpx.Response:
        fault = fakes.faults.email
        attempt = fakes.counters.get("email_attempt", 0) + 1
        fakes.counters["email_attempt"] = attempt
        # flaky: every other call fails, so one retry always gets through.
        if fault == "down" or (fault == "flaky" and attempt % 2 == 1):
            payload = {"error": "unavailable", "message": "E-mail service unavailable"}
            return fakes.respond(SERVICE, request, httpx.Response(503, json=payload))
        try:
            body = json.loads(request.content)
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or not {"to", "subject", "template"} <= body.keys()
        ):
            payload = {"error": "invalid_request", "message": "to, subject, template"}
            return fakes.respond(SERVICE, request, httpx.Response(400, json=payload))
        fakes.outbox.append(
            {
                "to": body["to"],
                "subject": body["subject"],
                "template": body["template"],
                "data": body.get("data") or {},
                "sent_at": utcnow(),
            }
        )
        payload = {"id": fakes.next_id("msg"), "status": "queued"}
        return fakes.respond(SERVICE, request, httpx.Response(202, json=payload))

    router.post(f"{base}/send", name="email.send").mock(side_effect=send)
