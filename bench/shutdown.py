"""``python -m bench.shutdown``: how long from SIGTERM to exit, with N tasks in flight?

Starts the real server (mock mode, a throwaway data directory), switches the fake gateway
to ``slow`` (each charge takes ``FAKE_PAYMENT_SLOW_S``, here 2 s), places N orders, and
sends SIGTERM once every charge is in flight. Charges are shielded: the server must wait
for them, settle each order and only then exit, so the floor is what is left of the gateway's 2 s.
Reports, per N: seconds from SIGTERM to exit, the exit code, and how many of the N orders
were settled before exit (every one must be; none may stay ``processing``). Also N = 0, the
plain cost of stopping. 127.0.0.1 only, bounded counts; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx

from bench.service import running_service

SLOW_S = 2.0
START_DEADLINE_S = 30.0
CHARGE = "orders.charge_payment"


def charges(http: httpx.Client) -> tuple[int, int]:
    """(charges started, charges still running) according to the task registry."""
    tasks = [
        t
        for t in http.get("/demo/tasks", params={"limit": 1000}).json()
        if t["name"] == CHARGE
    ]
    started = sum(1 for t in tasks if t["state"] != "pending")
    return started, sum(1 for t in tasks if t["state"] == "running")


async def place_orders(base_url: str, n: int, product: dict[str, object]) -> None:
    """N orders at once, so every charge is in flight together."""
    order = {
        "user_id": 1,
        "email": "bench@example.com",
        "items": [
            {
                "product_id": product["product_id"],
                "quantity": 1,
                "price": product["price"],
            }
        ],
        "payment_token": "tok_visa",
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        responses = await asyncio.gather(
            *(http.post("/orders", json=order) for _ in range(n))
        )
    for response in responses:
        response.raise_for_status()


def one(n: int) -> tuple[int, float, int | None, int, int]:
    """(charges in flight at SIGTERM, seconds to exit, exit code, settled, processing)."""
    server_env = {"FAKE_PAYMENT_SLOW_S": str(SLOW_S), "LOG_LEVEL": "WARNING"}
    with running_service(env=server_env) as service:
        with httpx.Client(base_url=service.base_url) as http:
            http.put("/demo/faults", json={"payment": "slow"}).raise_for_status()
            product = http.get("/products").json()[1]  # plenty of stock
            asyncio.run(place_orders(service.base_url, n, product))
            deadline = time.monotonic() + START_DEADLINE_S
            while (counts := charges(http))[0] < n:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {counts[0]} of {n} charges started")
                time.sleep(0.02)  # polling until every charge has started
        sent = time.perf_counter()
        code = service.stop()
        took = time.perf_counter() - sent
        rows = {
            str(status): int(str(count))
            for status, count in service.sql(
                'SELECT status, count(*) FROM "order" GROUP BY 1'
            )
        }
    processing = rows.pop("processing", 0)
    settled = sum(rows.values())
    return counts[1], took, code, settled, processing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.shutdown")
    parser.add_argument("--counts", default="0,10,50", help="orders in flight")
    args = parser.parse_args(argv)
    print(
        f"SIGTERM with N shielded charges in flight (the fake gateway takes {SLOW_S:g} s "
        "each); seconds to exit, exit code, orders settled / still processing"
    )
    for n in (int(part) for part in args.counts.split(",")):
        in_flight, took, code, settled, processing = one(n)
        print(
            f"  N={n:3d} ({in_flight} in flight): {took:5.2f} s  exit {code}  "
            f"settled {settled}/{n}  processing {processing}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
