"""Orders service: catalogue prices, exact totals, all-or-nothing reservations, no overselling."""

from collections.abc import AsyncIterator
from decimal import Decimal

import anyio
import pytest
from pydantic import SecretStr

from app.config import Settings
from app.db import SessionFactory, make_engine, make_session_factory
from app.orders import service
from app.orders.exceptions import (
    OrderNotFoundError,
    OutOfStockError,
    PriceMismatchError,
    UnknownProductError,
)
from app.orders.models import InventoryStatus, Order, OrderStatus, Product
from app.orders.schemas import OrderCreate, OrderLineIn
from app.outbox import service as outbox
from app.outbox.models import OutboxKind
from app.outbox.service import NewMessage
from app.seed import seed_catalogue
from tests.orders.helpers import DESK_MAT, KEYBOARD, SOLD_OUT

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    await seed_catalogue(factory)
    try:
        yield factory
    finally:
        await engine.dispose()


def order_body(*lines: tuple[int, int, str]) -> OrderCreate:
    return OrderCreate(
        user_id=1,
        email="ada@example.com",
        items=[
            OrderLineIn(product_id=pid, quantity=qty, price=Decimal(price))
            for pid, qty, price in lines
        ],
        payment_token=SecretStr("tok_visa"),
    )


async def product(sessions: SessionFactory, product_id: int) -> Product:
    async with sessions() as session:
        found = await session.get(Product, product_id)
    assert found is not None
    return found


async def place(sessions: SessionFactory, *lines: tuple[int, int, str]) -> Order:
    async with sessions() as session:
        return await service.create_order(session, order_body(*lines))


async def test_create_order_totals_exactly_with_catalogue_prices(
    sessions: SessionFactory,
) -> None:
    order = await place(sessions, (DESK_MAT, 3, "19.99"), (2, 1, "24.50"))

    assert order.total == Decimal("84.47")
    assert order.status == OrderStatus.PROCESSING
    async with sessions() as session:
        stored = await service.get_order(session, order.id)
    assert stored.total == Decimal("84.47")
    assert [(line.product_id, line.quantity) for line in stored.lines] == [
        (5, 3),
        (2, 1),
    ]


async def test_create_order_rejects_a_price_that_differs_from_the_catalogue(
    sessions: SessionFactory,
) -> None:
    with pytest.raises(PriceMismatchError, match=r"19\.99"):
        await place(sessions, (DESK_MAT, 1, "0.01"))


async def test_create_order_rejects_unknown_products(sessions: SessionFactory) -> None:
    with pytest.raises(UnknownProductError, match="999"):
        await place(sessions, (999, 1, "1.00"))


async def test_get_order_raises_not_found(sessions: SessionFactory) -> None:
    async with sessions() as session:
        with pytest.raises(OrderNotFoundError):
            await service.get_order(session, 12345)


async def test_reservation_is_all_or_nothing(sessions: SessionFactory) -> None:
    order = await place(sessions, (KEYBOARD, 2, "89.99"), (SOLD_OUT, 1, "120.00"))

    async with sessions() as session:
        with pytest.raises(OutOfStockError) as raised:
            await service.reserve_stock(session, order.id)

    assert raised.value.product_id == SOLD_OUT
    assert (await product(sessions, KEYBOARD)).reserved == 0
    async with sessions() as session:
        assert (
            await service.get_order(session, order.id)
        ).inventory_status == "pending"


async def test_reservation_never_oversells_under_concurrency(
    sessions: SessionFactory,
) -> None:
    orders = [await place(sessions, (DESK_MAT, 1, "19.99")) for _ in range(20)]
    outcomes: list[bool] = []

    async def reserve(order_id: int) -> None:
        async with sessions() as session:
            try:
                outcomes.append(await service.reserve_stock(session, order_id))
            except OutOfStockError:
                outcomes.append(False)

    async with anyio.create_task_group() as group:
        for order in orders:
            group.start_soon(reserve, order.id)

    assert outcomes.count(True) == 12
    desk_mat = await product(sessions, DESK_MAT)
    assert (desk_mat.stock, desk_mat.reserved) == (12, 12)


async def test_reserve_twice_is_a_no_op(sessions: SessionFactory) -> None:
    order = await place(sessions, (DESK_MAT, 2, "19.99"))
    async with sessions() as session:
        assert await service.reserve_stock(session, order.id) is True
        assert await service.reserve_stock(session, order.id) is False
    assert (await product(sessions, DESK_MAT)).reserved == 2


def a_promise(order_id: int) -> NewMessage:
    return NewMessage(
        kind=OutboxKind.EMAIL,
        topic="order_payment_failed",
        payload={"to": "ada@example.com", "subject": "s", "template": "t", "data": {}},
        subject_type="order",
        subject_id=order_id,
    )


async def outbox_rows(sessions: SessionFactory, order_id: int) -> list[str]:
    async with sessions() as session:
        rows = await outbox.for_subject(
            session, subject_type="order", subject_id=order_id
        )
    return [row.topic for row in rows]


async def test_settle_releases_the_stock_and_stages_its_promises_once(
    sessions: SessionFactory,
) -> None:
    order = await place(sessions, (DESK_MAT, 4, "19.99"))
    async with sessions() as session:
        await service.reserve_stock(session, order.id)
        first = await service.settle(
            session,
            order.id,
            OrderStatus.PAYMENT_FAILED,
            release_stock=True,
            promises=[a_promise(order.id)],
        )
        assert first is not None
        assert [row.topic for row in first] == ["order_payment_failed"]
        again = await service.settle(
            session,
            order.id,
            OrderStatus.CONFIRMED,
            release_stock=True,
            promises=[a_promise(order.id)],
        )
        settled = await service.get_order(session, order.id)

    assert again is None
    assert settled.status == OrderStatus.PAYMENT_FAILED
    assert settled.inventory_status == InventoryStatus.RELEASED
    assert (await product(sessions, DESK_MAT)).reserved == 0
    assert await outbox_rows(sessions, order.id) == ["order_payment_failed"]


async def test_a_failed_settlement_leaves_neither_status_nor_promises(
    sessions: SessionFactory,
) -> None:
    order = await place(sessions, (DESK_MAT, 1, "19.99"))
    broken = NewMessage(
        kind=OutboxKind.EMAIL,
        topic="x" * 51,  # longer than the column: the whole transaction must roll back
        payload={"bad": object()},
        subject_type="order",
        subject_id=order.id,
    )
    async with sessions() as session:
        with pytest.raises(Exception):  # noqa: B017, PT011 - any database error
            await service.settle(
                session,
                order.id,
                OrderStatus.CONFIRMED,
                release_stock=False,
                promises=[a_promise(order.id), broken],
            )
        assert (await service.get_order(session, order.id)).status == "processing"

    assert await outbox_rows(sessions, order.id) == []


async def test_money_column_refuses_fractions_of_a_cent(
    sessions: SessionFactory,
) -> None:
    async with sessions() as session:
        session.add(
            Product(id=99, name="x", price=Decimal("1.005"), stock=1, reserved=0)
        )
        with pytest.raises(Exception, match="two decimal places"):
            await session.commit()
