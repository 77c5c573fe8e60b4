"""The demo's product catalogue, inserted once (idempotent: existing rows are left alone)."""

from decimal import Decimal

from sqlalchemy import select

from app.db import SessionFactory
from app.orders.models import Product

CATALOGUE: tuple[tuple[int, str, Decimal, int], ...] = (
    (1, "Mechanical keyboard", Decimal("89.99"), 50),
    (2, "Wireless mouse", Decimal("24.50"), 100),
    (3, "USB-C hub", Decimal("39.95"), 40),
    (4, "27-inch monitor", Decimal("249.00"), 20),
    # Scarce on purpose: the concurrency test and the tutorial order more than this.
    (5, "Limited edition desk mat", Decimal("19.99"), 12),
    # Sold out on purpose: ordering it shows the inventory failure and the refund.
    (6, "Vintage headphones (sold out)", Decimal("120.00"), 0),
)


async def seed_catalogue(sessions: SessionFactory) -> int:
    """Insert the catalogue products that are missing; returns how many were added."""
    async with sessions() as session:
        existing = set(await session.scalars(select(Product.id)))
        missing = [
            Product(id=pid, name=name, price=price, stock=stock, reserved=0)
            for pid, name, price, stock in CATALOGUE
            if pid not in existing
        ]
        session.add_all(missing)
        await session.commit()
    return len(missing)
