"""Chaos rounds against the real server: mixed load, a kill at a random moment, a restart.

Each round starts the server on the same data directory, waits until everything the last
kill interrupted has been finished (quiescence), checks the invariants below over the whole
history, then drives mixed load (orders with a slow or answer-losing gateway and some
declines, registrations with a flaky e-mail service, uploads, tracking) and kills the
server at a seeded random moment: SIGTERM in some rounds, SIGKILL in others.

Invariants (what the service promised survives):

- every order reaches a final status; reserved stock = sum of confirmed quantities;
- every confirmed order: exactly one confirmation e-mail and one shipment; every failed
  order: exactly one e-mail of its kind and no shipment;
- no card charged on an order that is not confirmed, unless refunded;
- every registered user: exactly one verification e-mail (delivered once per outbox row);
- analytics: after SIGTERM nothing lost; after SIGKILL at most the events accepted in the
  last flush window (the in-memory batch) — the number is reported.

Only 127.0.0.1, bounded counts and durations.
"""

import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from app.mocks import FakeServices
from app.seed import CATALOGUE
from tests.e2e.server import ServerProcess, running_server
from tests.images.imagegen import png_bytes
from tests.polling import poll

FLUSH_INTERVAL_S = 1.0
ENV = {
    "BCRYPT_ROUNDS": "4",
    "EMAIL_RETRY_DELAY_S": "0.1",
    "FAKE_PAYMENT_SLOW_S": "0.5",
    "ANALYTICS_FLUSH_INTERVAL_S": str(FLUSH_INTERVAL_S),
    "SWEEP_INTERVAL_S": "0.3",
    "SHUTDOWN_TIMEOUT_S": "10",
    "LOG_LEVEL": "WARNING",
}
# The seed inserts the catalogue in order into an empty database: ids 1, 2, ...
STOCK = {pid: stock for pid, (_, _, stock) in enumerate(CATALOGUE, start=1)}
PRICES = {pid: float(price) for pid, (_, price, _) in enumerate(CATALOGUE, start=1)}
ORDER_EMAIL = {
    "confirmed": "order_confirmation",
    "payment_failed": "order_payment_failed",
    "inventory_failed": "order_out_of_stock",
}
QUIESCENCE_DEADLINE_S = 30.0
WORKERS = 6


@dataclass
class Round:
    """What one round's load was told was accepted, and how the round ended."""

    number: int
    kill: signal.Signals
    events: list[tuple[str, int, float]] = field(default_factory=list)
    orders: int = 0
    users: int = 0
    images: int = 0
    killed_at: float = 0.0
    exit_code: int | None = None
    events_lost: int = 0


@dataclass
class Report:
    rounds: list[Round] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"round {r.number:2d} {r.kill.name:7s} exit={r.exit_code} orders={r.orders} "
            f"users={r.users} images={r.images} events={len(r.events)} "
            f"events_lost={r.events_lost}"
            for r in self.rounds
        ]
        killed = [r for r in self.rounds if r.kill == signal.SIGKILL]
        lines.append(
            f"all {len(self.rounds)} rounds ({len(killed)} SIGKILL): "
            f"{sum(r.orders for r in self.rounds)} orders, "
            f"{sum(r.users for r in self.rounds)} registrations, "
            f"{sum(r.images for r in self.rounds)} uploads accepted, every promise kept; "
            f"events lost {sum(r.events_lost for r in killed)} of "
            f"{sum(len(r.events) for r in killed)} in SIGKILL rounds (all within the "
            f"last {FLUSH_INTERVAL_S:g} s flush window), 0 of "
            f"{sum(len(r.events) for r in self.rounds if r.kill == signal.SIGTERM)} "
            "in SIGTERM rounds"
        )
        return "\n".join(lines)


class Load:
    """Mixed traffic until the server goes away; records what it accepted."""

    def __init__(self, http: httpx.AsyncClient, rnd: Round, rng: random.Random) -> None:
        self.http = http
        self.round = rnd
        self.rng = rng
        self.stopped = False
        self.image = png_bytes((48, 32))
        self.sequence = 0

    async def worker(self, worker_id: int) -> None:
        while not self.stopped:
            try:
                await self.one_request(worker_id)
            except httpx.TransportError:
                return  # the server is going away: the request's outcome is unknown

    async def one_request(self, worker_id: int) -> None:
        self.sequence += 1
        n = self.sequence
        roll = self.rng.random()
        if roll < 0.45:
            product = self.rng.choice([1, 2, 5, 5, 6])
            token = "tok_declined" if self.rng.random() < 0.2 else "tok_visa"
            body = {
                "user_id": 1,
                "email": f"buyer{n}@example.com",
                "items": [
                    {"product_id": product, "quantity": 1, "price": PRICES[product]}
                ],
                "payment_token": token,
            }
            if (await self.http.post("/orders", json=body)).status_code == 202:
                self.round.orders += 1
        elif roll < 0.6:
            body = {
                "email": f"r{self.round.number}-u{n}@example.com",
                "password": "correct horse battery",
                "name": "Chaos",
            }
            if (await self.http.post("/register", json=body)).status_code == 201:
                self.round.users += 1
        elif roll < 0.65:
            files = {"file": ("chaos.png", self.image, "image/png")}
            response = await self.http.post(
                "/upload-image", params={"user_id": 1}, files=files
            )
            if response.status_code == 202:
                self.round.images += 1
        else:
            chaos_id = f"r{self.round.number}-e{n}"
            user_id = 1000 + self.round.number * 10 + worker_id
            body = {
                "event": "chaos",
                "user_id": user_id,
                "properties": {"id": chaos_id},
            }
            if (await self.http.post("/track", json=body)).status_code == 202:
                self.round.events.append((chaos_id, user_id, time.monotonic()))


async def run_round(server: ServerProcess, rnd: Round, rng: random.Random) -> None:
    """Load the server, then kill it at a random moment; wait for the process to end."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        faults = {
            "payment": rng.choice(["slow", "ok", "lost_answer"]),
            "email": "flaky",
        }
        (await http.put("/demo/faults", json=faults)).raise_for_status()
        load = Load(http, rnd, rng)
        async with anyio.create_task_group() as group:
            for worker_id in range(WORKERS):
                group.start_soon(load.worker, worker_id)
            await anyio.sleep(rng.uniform(0.4, 1.5))  # the kill's random moment
            rnd.killed_at = time.monotonic()
            server.process.send_signal(rnd.kill)
            load.stopped = True
    rnd.exit_code = await anyio.to_thread.run_sync(server.process.wait, 20)


async def fetch_all(http: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    """Every ``path/{id}`` that exists (ids are dense: stop after a run of 404s)."""
    found: list[dict[str, Any]] = []
    item_id, misses = 0, 0
    while misses < 10:
        item_id += 1
        response = await http.get(f"{path}/{item_id}")
        if response.status_code == 200:
            found.append(response.json())
            misses = 0
        else:
            misses += 1
    return found


async def quiesce(http: httpx.AsyncClient) -> tuple[list[Any], list[Any]]:
    """Wait until no order or image is in flight and the outbox is empty."""

    async def done() -> tuple[list[Any], list[Any]] | None:
        outbox = (await http.get("/outbox", params={"limit": 1})).json()
        if outbox["counts"]["pending"]:
            return None
        orders = await fetch_all(http, "/orders")
        images = await fetch_all(http, "/images")
        if any(o["status"] == "processing" for o in orders):
            return None
        if any(i["status"] == "processing" for i in images):
            return None
        return orders, images

    result: tuple[list[Any], list[Any]] = await poll(
        done, deadline_s=QUIESCENCE_DEADLINE_S
    )
    return result


def check_orders(orders: list[dict[str, Any]], fakes: FakeServices) -> None:
    emails = Counter(
        (mail["data"].get("order_id"), mail["template"])
        for mail in fakes.outbox
        if mail["template"].startswith("order_")
    )
    shipments = Counter(shipment.order_id for shipment in fakes.shipments)
    for order in orders:
        order_id, status = order["order_id"], order["status"]
        assert status in ORDER_EMAIL, order
        mails = {key: n for key, n in emails.items() if key[0] == order_id}
        assert mails == {(order_id, ORDER_EMAIL[status]): 1}, (order, mails)
        expected_shipments = 1 if status == "confirmed" else 0
        assert shipments[order_id] == expected_shipments, order
    statuses = {order["order_id"]: order["status"] for order in orders}
    payments = fakes.payments
    refunded = {refund.charge_id for refund in payments.refunds}
    for charge in payments.charges:
        if charge.status_code != 200:
            continue
        assert (
            statuses.get(charge.order_id) == "confirmed" or charge.charge_id in refunded
        ), f"charge {charge.charge_id} on order {charge.order_id} kept"


async def check_stock(http: httpx.AsyncClient, orders: list[dict[str, Any]]) -> None:
    confirmed: Counter[int] = Counter()
    for order in orders:
        if order["status"] == "confirmed":
            for item in order["items"]:
                confirmed[item["product_id"]] += item["quantity"]
    products = (await http.get("/products")).json()
    reserved = {
        p["product_id"]: STOCK[p["product_id"]] - p["available"] for p in products
    }
    assert reserved == {pid: confirmed[pid] for pid in STOCK}, (reserved, confirmed)


async def check_users(http: httpx.AsyncClient, fakes: FakeServices) -> int:
    users = await fetch_all(http, "/users")
    verification = Counter(
        mail["to"] for mail in fakes.outbox if mail["template"] == "email_verification"
    )
    for user in users:
        assert verification[user["email"]] == 1, (user, verification[user["email"]])
    keys = [mail["idempotency_key"] for mail in fakes.outbox]
    assert len(keys) == len(set(keys))
    return len(users)


async def count_lost_events(
    http: httpx.AsyncClient, rnd: Round, fakes: FakeServices
) -> int:
    delivered = {
        event.get("properties", {}).get("id") for event in fakes.analytics_events
    }
    stored: set[str] = set()
    for user_id in {user_id for _, user_id, _ in rnd.events}:
        rows = (await http.get("/analytics/events", params={"user_id": user_id})).json()
        stored |= {row["properties"].get("id") for row in rows}
    lost = [
        (chaos_id, at)
        for chaos_id, _, at in rnd.events
        if chaos_id not in delivered | stored
    ]
    if rnd.kill == signal.SIGTERM:
        assert lost == [], f"round {rnd.number}: {len(lost)} events lost on SIGTERM"
    else:
        # Only the in-memory batch window may be lost to SIGKILL (docs/crash-safety.md).
        window_start = rnd.killed_at - FLUSH_INTERVAL_S - 0.5
        assert all(at >= window_start for _, at in lost), lost
    return len(lost)


async def check_everything(
    server: ServerProcess, data_dir: Path, previous: Round | None
) -> None:
    fakes = FakeServices(data_dir / "fakes.db")
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            orders, _ = await quiesce(http)
            check_orders(orders, fakes)
            await check_stock(http, orders)
            await check_users(http, fakes)
            if previous is not None:
                previous.events_lost = await count_lost_events(http, previous, fakes)
    finally:
        fakes.close()


async def chaos(data_dir: Path, *, rounds: int, seed: int) -> Report:
    """Run ``rounds`` kill-and-restart rounds; raise AssertionError on a broken promise."""
    rng = random.Random(seed)
    report = Report()
    previous: Round | None = None
    for number in range(rounds + 1):
        with running_server(data_dir, env=ENV) as server:
            await check_everything(server, data_dir, previous)
            if number == rounds:
                break
            kill = signal.SIGTERM if number % 3 == 0 else signal.SIGKILL
            rnd = Round(number=number, kill=kill)
            report.rounds.append(rnd)
            await run_round(server, rnd, rng)
            if kill == signal.SIGTERM:
                assert rnd.exit_code == 0, server.output()[-3000:]
            previous = rnd
    return report
