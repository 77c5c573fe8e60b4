"""The demo's product catalogue, inserted once (idempotent: existing rows are left alone).

Products are matched by name and get their ids from the database (no fixed ids: on
PostgreSQL an explicit id would leave the sequence behind, and the next product inserted
without one would collide). On an empty database they come out as 1-6, in this order.
"""

from decimal import Decimal

from sqlalchemy import select

from app.db import SessionFactory
from app.orders.models import Product

CATALOGUE: tuple[tuple[str, Decimal, int], ...] = (
    ("Mechanical keyboard", Decimal("89.99"), 50),
    ("Wireless mouse", Decimal("24.50"), 100),
    ("USB-C hub", Decimal("39.95"), 40),
    ("27-inch monitor", Decimal("249.00"), 20),
    # Scarce on purpose: the concurrency test and the tutorial order more than this.
    ("Limited edition desk mat", Decimal("19.99"), 12),
    # Sold out on purpose: ordering it shows the inventory failure and the refund.
    ("Vintage headphones (sold out)", Decimal("120.00"), 0),
)


async def seed_catalogue(sessions: SessionFactory) -> int:
    """Insert the catalogue products that are missing; returns how many were added.

    Two processes seeding at once would both insert: the caller holds the startup lock
    (``app.db_migrate.startup_lock``).
    """
    async with sessions() as session:
        existing = set(await session.scalars(select(Product.name)))
        missing = [entry for entry in CATALOGUE if entry[0] not in existing]
        for name, price, stock in missing:
            session.add(Product(name=name, price=price, stock=stock, reserved=0))
            await session.flush()  # one at a time: ids follow the catalogue's order
        await session.commit()
    return len(missing)
