"""``python -m bench.db_statements``: what one hot-path write costs the event loop, three ways.

The order pipeline's writes are conditional UPDATEs whose row count is the answer. This
measures one such transaction (reserve an order and one product's stock, then commit,
as ``app.orders.service.reserve_stock`` does) on a throwaway SQLite database built by the
migrations, in one process and one event loop (uvloop, as the server runs):

- ``orm``: the statements built on every call and run through ``session.execute`` (the
  ORM's bulk-update path), as the first release did
- ``core``: built on every call, run on the session's connection (``app.db.execute_core``)
- ``prebuilt``: built once with ``bindparam`` and run on the session's connection, as
  the pipeline's hot paths do now (``app/orders/service.py``, ``app/outbox/service.py``)

Reported: event-loop thread CPU (``time.thread_time``) per transaction, median of
interleaved rounds, and each variant's ratio to ``prebuilt``. CPU of the loop's thread
is what limits a single-process server; the database's own work runs in aiosqlite's
thread and is the same for all three.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import uvloop
from sqlalchemy import Update, bindparam, insert, update

from app.db import execute_core, make_engine, make_session_factory, utcnow
from app.db_migrate import migrate_database
from app.orders import service
from app.orders.models import InventoryStatus, Order, Product

Variant = Callable[[], Awaitable[None]]


async def measure(rounds: int, per_round: int) -> dict[str, list[float]]:
    directory = Path(tempfile.mkdtemp(prefix="bench-db-"))
    url = f"sqlite+aiosqlite:///{directory / 'app.db'}"
    await asyncio.to_thread(migrate_database, url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Product).values(id=1, name="p", price=Decimal("1.00"), stock=10**9)
        )
        await connection.execute(
            insert(Order).values(
                id=1, user_id=1, email="a@example.com", total=Decimal("1.00")
            )
        )

    # The shapes of the reservation's two statements, the order's with its status left
    # as it is, so that every call updates one row of each (the product's is the
    # pipeline's own: the stock is ample).
    def order_update() -> Update:
        return (
            update(Order)
            .where(Order.id == 1, Order.inventory_status == InventoryStatus.PENDING)
            .values(inventory_status=InventoryStatus.PENDING, updated_at=utcnow())
        )

    def product_update() -> Update:
        return (
            update(Product)
            .where(Product.id == 1, Product.reserved + 1 <= Product.stock)
            .values(reserved=Product.reserved + 1)
        )

    order_prebuilt = (
        update(Order)
        .where(
            Order.id == bindparam("order_id"),
            Order.inventory_status == InventoryStatus.PENDING,
        )
        .values(inventory_status=InventoryStatus.PENDING, updated_at=bindparam("now"))
    )

    async def orm() -> None:
        async with sessions() as session:
            await session.execute(order_update())
            await session.execute(product_update())
            await session.commit()

    async def core() -> None:
        async with sessions() as session:
            await execute_core(session, order_update(), {})
            await execute_core(session, product_update(), {})
            await session.commit()

    async def prebuilt() -> None:
        async with sessions() as session:
            params = {"order_id": 1, "now": utcnow()}
            await execute_core(session, order_prebuilt, params)
            params = {"product_id": 1, "quantity": 1}
            await execute_core(session, service._RESERVE_PRODUCT, params)
            await session.commit()

    variants: dict[str, Variant] = {"orm": orm, "core": core, "prebuilt": prebuilt}
    results: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm up: statement caches, the connection
        for _ in range(50):
            await run()
    for round_no in range(rounds):
        names = list(variants)
        names = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in names:
            started = time.thread_time()
            for _ in range(per_round):
                await variants[name]()
            results[name].append((time.thread_time() - started) / per_round)
    await engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_statements")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=300)
    args = parser.parse_args(argv)
    results = uvloop.run(measure(args.rounds, args.per_round))
    floor = statistics.median(results["prebuilt"])
    print("event-loop CPU per transaction (2 conditional UPDATEs + commit), medians:")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"  {name:<9} {median * 1e6:7.0f} us   x{median / floor:.2f} of prebuilt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
