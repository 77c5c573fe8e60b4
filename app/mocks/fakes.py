"""State shared by the fake external systems, and what ``/demo`` shows of it.

The state lives in the fakes' own SQLite file (``app/mocks/store.py``), so it survives a
restart and every worker sees the same faults, calls, e-mails and charges. The fakes run as
respx side effects on the server's event loop: they reach the database through
``FakeServices.handle``/``write`` (a worker thread). The synchronous read accessors below
are for tests and, through a thread, for the ``/demo`` router.
"""

import json
import weakref
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import httpx

from app.db import utcnow
from app.mocks.schemas import (
    ChargeRecord,
    Faults,
    FaultsUpdate,
    Payments,
    RecordedCall,
    RefundRecord,
    Shipment,
)
from app.mocks.store import Answer, Caps, FakeStore, Tx

T = TypeVar("T")

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
# Request headers whose values never leave the fake: any name containing one of these
# words (Authorization, X-Api-Key, Cookie, ...), except Idempotency-Key, an id worth seeing.
SECRET_HEADER_WORDS = ("auth", "cookie", "key", "token", "secret", "password")
PUBLIC_HEADERS = frozenset({"idempotency-key"})
MAX_CALLS = 5_000
MAX_ROWS = 10_000
# Recorded bodies above this (as JSON) are replaced by their size: the table stays small.
MAX_BODY_BYTES = 4_096


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


def secret_header(name: str) -> bool:
    lowered = name.lower()
    return lowered not in PUBLIC_HEADERS and any(
        word in lowered for word in SECRET_HEADER_WORDS
    )


def recorded_headers(request: httpx.Request) -> str:
    """The request's headers as JSON text (names lower-cased), secret values redacted."""
    headers = {
        name: REDACTED if secret_header(name) else value
        for name, value in request.headers.multi_items()
    }
    return json.dumps(headers)


def recorded_body(request: httpx.Request) -> str:
    """The redacted body as JSON text, or ``{"truncated": true, "bytes": n}`` if big."""
    text = json.dumps(redact(request_body(request)))
    if len(text.encode()) > MAX_BODY_BYTES:
        return json.dumps({"truncated": True, "bytes": len(request.content)})
    return text


def json_object(request: httpx.Request) -> dict[str, Any]:
    """The request's JSON body if it is an object, else ``{}`` (fakes answer 400 from there)."""
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def idempotency_key(request: httpx.Request) -> str | None:
    key: str | None = request.headers.get("idempotency-key")
    return key


def json_response(answer: Answer) -> httpx.Response:
    status, payload = answer
    return httpx.Response(status, json=payload)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _recorded(row: Any) -> RecordedCall:
    return RecordedCall(
        service=row["service"],
        method=row["method"],
        url=row["url"],
        status=row["status"],
        headers=json.loads(row["headers"]),
        body=json.loads(row["body"]),
        at=_when(row["at"]),
    )


class FakeServices:
    """Everything the fakes remember; one per app, reachable as ``request.state.fakes``.

    ``path`` is the SQLite file (``data_dir / "fakes.db"`` in the app), None for a private
    in-memory database. Nothing is opened until first use.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        payment_slow_s: float = 2.0,
        max_calls: int = MAX_CALLS,
        max_rows: int = MAX_ROWS,
    ) -> None:
        # How long the gateway takes under the "slow" fault (settings.fake_payment_slow_s).
        self.payment_slow_s = payment_slow_s
        self.store = FakeStore(path, Caps(calls=max_calls, rows=max_rows))
        # The lifespan does not own us, so nobody calls close(): collection does.
        weakref.finalize(self, self.store.close)

    def close(self) -> None:
        """Close the database connection (it reopens on next use)."""
        self.store.close()

    # -- for the fakes: run on the event loop, reach the database in a worker thread ----

    def record_in(
        self, tx: Tx, service: str, request: httpx.Request, status: int | None
    ) -> None:
        """Record a call (``status`` None when the client got no answer)."""
        tx.add_call(
            service=service,
            method=request.method,
            url=str(request.url),
            status=status,
            headers=recorded_headers(request),
            body=recorded_body(request),
            at=utcnow().isoformat(),
        )

    async def write(self, work: Callable[[Tx], T]) -> T:
        """``work`` in one write transaction, in a worker thread."""
        return await anyio.to_thread.run_sync(self._write, work)

    def _write(self, work: Callable[[Tx], T]) -> T:
        with self.store.write() as tx:
            return work(tx)

    async def handle(
        self,
        service: str,
        request: httpx.Request,
        answer: Callable[[Tx, httpx.Request], httpx.Response],
    ) -> httpx.Response:
        """``answer`` the request and record the call, in one transaction."""

        def work(tx: Tx) -> httpx.Response:
            response = answer(tx, request)
            self.record_in(tx, service, request, response.status_code)
            return response

        return await self.write(work)

    async def respond(
        self, service: str, request: httpx.Request, response: httpx.Response
    ) -> httpx.Response:
        """Record the call with the response's status and return the response."""
        return await self.handle(service, request, lambda _tx, _request: response)

    async def record(
        self, service: str, request: httpx.Request, status: int | None
    ) -> None:
        """Record a call that got no answer (``status`` None) or needs no other work."""
        await self.write(lambda tx: self.record_in(tx, service, request, status))

    async def fault_of(self, service: str) -> str:
        return await anyio.to_thread.run_sync(self._fault_of, service)

    def _fault_of(self, service: str) -> str:
        with self.store.read() as tx:
            return tx.fault(service)

    # -- reads and fault switches: synchronous (tests; /demo calls them in a thread) ----

    @property
    def faults(self) -> Faults:
        """A snapshot of the current faults; change them with ``set_faults``."""
        with self.store.read() as tx:
            return Faults.model_validate(tx.faults())

    def set_faults(self, **changes: str) -> Faults:
        """Change some faults (validated like ``PUT /demo/faults``); returns the new ones."""
        update = FaultsUpdate.model_validate(changes).model_dump(exclude_none=True)
        with self.store.write() as tx:
            tx.set_faults(update)
            return Faults.model_validate(tx.faults())

    def recent_calls(
        self, service: str | None = None, limit: int | None = None
    ) -> tuple[int, list[RecordedCall]]:
        """How many calls are kept (of ``service``), and the newest ``limit`` of them."""
        with self.store.read() as tx:
            total, rows = tx.calls(service, limit)
        return total, [_recorded(row) for row in rows]

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call kept, oldest first."""
        return self.recent_calls()[1]

    def calls_to(self, service: str) -> list[RecordedCall]:
        """The calls one system received, oldest first."""
        return self.recent_calls(service)[1]

    def recent_outbox(
        self, limit: int | None = None
    ) -> tuple[int, list[dict[str, Any]]]:
        """How many e-mails are kept, and the newest ``limit`` of them, oldest first."""
        with self.store.read() as tx:
            total, rows = tx.rows("email", limit)
        mails = [
            {
                "to": row["to_address"],
                "subject": row["subject"],
                "template": row["template"],
                "data": json.loads(row["data"]),
                "sent_at": _when(row["at"]),
                "idempotency_key": row["idempotency_key"],
            }
            for row in rows
        ]
        return total, mails

    @property
    def outbox(self) -> list[dict[str, Any]]:
        """Every e-mail the fake e-mail service accepted (once per key), oldest first."""
        return self.recent_outbox()[1]

    @property
    def charges(self) -> dict[str, Answer]:
        """Idempotency key → the gateway's first (stored) answer to that charge."""
        with self.store.read() as tx:
            return tx.answers("charge")

    @property
    def refunds(self) -> dict[str, Answer]:
        """Idempotency key → the gateway's first (stored) answer to that refund."""
        with self.store.read() as tx:
            return tx.answers("refund")

    @property
    def payments(self) -> Payments:
        """Every charge the gateway decided and every refund it made, oldest first."""
        with self.store.read() as tx:
            charges, refunds = tx.rows("charge")[1], tx.rows("refund")[1]
        return Payments(
            charges=[
                ChargeRecord(
                    idempotency_key=row["idempotency_key"],
                    status_code=row["status_code"],
                    charge_id=json.loads(row["response"]).get("charge_id"),
                    amount=row["amount"],
                    order_id=row["order_id"],
                )
                for row in charges
            ],
            refunds=[
                RefundRecord(
                    idempotency_key=row["idempotency_key"],
                    charge_id=row["charge_id"],
                    refund_id=json.loads(row["response"])["refund_id"],
                )
                for row in refunds
            ],
        )

    @property
    def shipments(self) -> list[Shipment]:
        """Every shipment the warehouse accepted (once per key), oldest first."""
        with self.store.read() as tx:
            rows = tx.rows("shipment")[1]
        return [
            Shipment(
                order_id=row["order_id"],
                items=json.loads(row["items"]),
                idempotency_key=row["idempotency_key"],
                shipment_id=json.loads(row["response"])["shipment_id"],
                at=_when(row["at"]),
            )
            for row in rows
        ]

    @property
    def analytics_events(self) -> list[dict[str, Any]]:
        """Every event the analytics service accepted, oldest first."""
        with self.store.read() as tx:
            return [json.loads(event) for event in tx.events()]
