"""State shared by the fake external systems, and what ``/demo`` shows of it."""

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict

from app.db import utcnow

REDACTED = "***redacted***"
# Body keys whose values never leave the fake (payment tokens, keys, passwords).
SECRET_KEYS = frozenset(
    {
        "token",
        "payment_token",
        "api_key",
        "apikey",
        "password",
        "authorization",
        "secret",
    }
)
MAX_RECORDED = 5_000

PaymentFault = Literal["ok", "decline", "error", "timeout", "slow"]
EmailFault = Literal["ok", "down", "flaky"]
DownFault = Literal["ok", "down"]


class Faults(BaseModel):
    """What each fake system does right now (``PUT /demo/faults`` changes it)."""

    model_config = ConfigDict(
        validate_assignment=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "payment": "decline",
                    "email": "ok",
                    "cdn": "ok",
                    "warehouse": "ok",
                    "analytics": "down",
                    "alerts": "ok",
                }
            ]
        },
    )

    payment: PaymentFault = "ok"
    email: EmailFault = "ok"
    cdn: DownFault = "ok"
    warehouse: DownFault = "ok"
    analytics: DownFault = "ok"
    alerts: DownFault = "ok"


class FaultsUpdate(BaseModel):
    """A partial change of the faults; unknown systems or values are a 422."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"payment": "decline", "email": "flaky"}]},
    )

    payment: PaymentFault | None = None
    email: EmailFault | None = None
    cdn: DownFault | None = None
    warehouse: DownFault | None = None
    analytics: DownFault | None = None
    alerts: DownFault | None = None


class RecordedCall(BaseModel):
    """One request a fake system received, secrets redacted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service": "payment",
                    "method": "POST",
                    "url": "https://payments.mock/charge",
                    "status": 200,
                    "body": {
                        "amount": "59.98",
                        "currency": "USD",
                        "token": "[redacted]",
                        "metadata": {"order_id": 1},
                    },
                    "at": "2026-11-24T10:00:00.120000Z",
                }
            ]
        }
    )

    service: str
    method: str
    url: str
    status: int | None
    body: Any
    at: datetime


@dataclass
class StoredFile:
    """A file the fake CDN holds."""

    content: bytes
    content_type: str


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret-looking key's value replaced."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in SECRET_KEYS else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def request_body(request: httpx.Request) -> Any:
    """The body as sent: parsed JSON, ``{"bytes": n}`` for anything else, None if empty."""
    content = request.content
    if not content:
        return None
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            return json.loads(content)
        except ValueError:
            pass
    return {"bytes": len(content)}


@dataclass
class FakeServices:
    """Everything the fakes remember; one instance per app, reachable as ``request.state.fakes``."""

    faults: Faults = field(default_factory=Faults)
    # How long the gateway takes under the "slow" fault (settings.fake_payment_slow_s).
    payment_slow_s: float = 2.0
    calls: deque[RecordedCall] = field(
        default_factory=lambda: deque(maxlen=MAX_RECORDED)
    )
    outbox: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=MAX_RECORDED)
    )
    cdn_files: dict[str, StoredFile] = field(default_factory=dict)
    # Idempotency: the gateway's first answer per Idempotency-Key (a key serves one endpoint).
    charges: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    refunds: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    analytics_events: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=MAX_RECORDED)
    )
    counters: dict[str, int] = field(default_factory=dict)

    def next_id(self, prefix: str) -> str:
        """A fresh id such as ``ch_1`` (per prefix, in order)."""
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return f"{prefix}_{self.counters[prefix]}"

    def record(
        self, service: str, request: httpx.Request, status: int | None
    ) -> RecordedCall:
        """Remember a call (``status`` None when it timed out); secrets are redacted."""
        call = RecordedCall(
            service=service,
            method=request.method,
            url=str(request.url),
            status=status,
            body=redact(request_body(request)),
            at=utcnow(),
        )
        self.calls.append(call)
        return call

    def calls_to(self, service: str) -> list[RecordedCall]:
        """The calls one system received, oldest first."""
        return [call for call in self.calls if call.service == service]

    def respond(
        self, service: str, request: httpx.Request, response: httpx.Response
    ) -> httpx.Response:
        """Record the call with the response's status and return the response."""
        self.record(service, request, response.status_code)
        return response
