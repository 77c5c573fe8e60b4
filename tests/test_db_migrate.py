"""Startup on a shared database: migrations and the seed run once, whoever starts first."""

from decimal import Decimal

import anyio
import pytest
from sqlalchemy import func, select

from app.db import make_engine, make_session_factory
from app.db_migrate import prepare_database
from app.orders.models import Product
from app.seed import CATALOGUE, seed_catalogue

pytestmark = pytest.mark.anyio


async def product_names(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with make_session_factory(engine)() as session:
            return list(
                await session.scalars(select(Product.name).order_by(Product.id))
            )
    finally:
        await engine.dispose()


async def test_four_workers_starting_at_once_migrate_and_seed_once(
    empty_database_url: str,
) -> None:
    # Four engines, as four worker processes have: the startup lock (an advisory lock on
    # PostgreSQL, flock on SQLite) is per connection / open file, so it serialises them.
    engines = [make_engine(empty_database_url) for _ in range(4)]
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for engine in engines:
                    group.start_soon(prepare_database, empty_database_url, engine)
    finally:
        for engine in engines:
            await engine.dispose()
    assert await product_names(empty_database_url) == [name for name, _, _ in CATALOGUE]


async def test_the_seed_is_idempotent_and_leaves_ids_to_the_database(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        assert (
            await seed_catalogue(sessions) == 6
        )  # the template is migrated, not seeded
        assert await seed_catalogue(sessions) == 0
        async with sessions() as session:
            ids = list(await session.scalars(select(Product.id).order_by(Product.id)))
            # the next product without an id does not collide (PostgreSQL's sequence
            # moved with the seed: it never inserted an explicit id)
            extra = Product(name="Cable", price=Decimal("1.00"), stock=1, reserved=0)
            session.add(extra)
            await session.commit()
            count = await session.scalar(select(func.count()).select_from(Product))
    finally:
        await engine.dispose()
    assert ids == [1, 2, 3, 4, 5, 6]
    assert extra.id == 7
    assert count == 7
