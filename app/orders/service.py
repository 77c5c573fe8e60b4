"""Orders' domain logic: session and plain values in, models out, commits owned here.

Stock rule: ``reserved`` only grows through one conditional UPDATE per product
(``reserved + q <= stock``) inside a single transaction, so concurrent orders can never
reserve more than the stock, and an order reserves all of its items or none.
"""

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.db import execute_core, utcnow
from app.orders.exceptions import (
    OrderNotFoundError,
    OutOfStockError,
    PriceMismatchError,
    UnknownProductError,
)
from app.orders.models import (
    InventoryStatus,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    Product,
)
from app.orders.schemas import OrderCreate
from app.outbox import service as outbox
from app.outbox.models import OutboxMessage
from app.outbox.service import NewMessage


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


# The confirmed path's writes, built once and run as Core statements (``execute_core``):
# each is one conditional UPDATE whose row count is the answer.
_RESERVE_ORDER = (
    update(Order)
    .where(
        Order.id == bindparam("order_id"),
        Order.inventory_status == InventoryStatus.PENDING,
    )
    .values(inventory_status=InventoryStatus.RESERVED, updated_at=bindparam("now"))
)
# Conditional on what is already reserved, so two orders cannot both take the last unit
# (the seed's "available >= ?" check ignored reservations).
_RESERVE_PRODUCT = (
    update(Product)
    .where(
        Product.id == bindparam("product_id"),
        Product.reserved + bindparam("quantity") <= Product.stock,
    )
    .values(reserved=Product.reserved + bindparam("quantity"))
)
_MARK_PAID = (
    update(Order)
    .where(
        Order.id == bindparam("order_id"),
        Order.payment_status == PaymentStatus.PENDING,
    )
    .values(
        payment_status=PaymentStatus.SUCCEEDED,
        charge_id=bindparam("charge_id"),
        updated_at=bindparam("now"),
    )
)
_SETTLE = (
    update(Order)
    .where(Order.id == bindparam("order_id"), Order.status == OrderStatus.PROCESSING)
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)


async def list_products(session: AsyncSession) -> Sequence[Product]:
    """The catalogue, by id."""
    return (await session.scalars(select(Product).order_by(Product.id))).all()


_PRICES = select(Product.id, Product.price.label("price")).where(
    Product.id.in_(bindparam("ids", expanding=True))
)


async def create_order(session: AsyncSession, body: OrderCreate) -> Order:
    """Validate lines against the catalogue (prices are the server's) and store the order."""
    product_ids = sorted({line.product_id for line in body.items})
    rows = await execute_core(session, _PRICES, {"ids": product_ids})
    prices: dict[int, Decimal] = {row.id: row.price for row in rows}
    lines: list[OrderLine] = []
    for line in body.items:
        price = prices.get(line.product_id)
        if price is None:
            raise UnknownProductError(f"Unknown product {line.product_id}")
        if line.price != price:
            # The seed trusted the client's price; the catalogue is the only authority.
            raise PriceMismatchError(
                f"Price of product {line.product_id} is {price}, not {line.price}"
            )
        lines.append(
            OrderLine(
                product_id=line.product_id, quantity=line.quantity, unit_price=price
            )
        )
    order = Order(
        user_id=body.user_id,
        email=str(body.email),
        status=OrderStatus.PROCESSING,
        payment_status=PaymentStatus.PENDING,
        inventory_status=InventoryStatus.PENDING,
        total=order_total(lines),
        lines=lines,
    )
    session.add(order)
    # Commit before anything is scheduled: tasks read this order from their own sessions.
    await session.commit()
    return order


def order_total(lines: Sequence[OrderLine]) -> Decimal:
    """Sum of unit price x quantity, exact."""
    return sum(
        (line.unit_price * line.quantity for line in lines), start=Decimal("0.00")
    )


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an order stands: the columns its tasks change (the rest never changes)."""

    status: str
    payment_status: str
    inventory_status: str
    charge_id: str | None
    failure_reason: str | None

    @classmethod
    def of(cls, order: Order) -> "Progress":
        return cls(**{field.name: getattr(order, field.name) for field in fields(cls)})


# The same five columns, named once (by ``Progress``'s fields).
_PROGRESS = select(*(getattr(Order, field.name) for field in fields(Progress))).where(
    Order.id == bindparam("order_id")
)


async def progress(session: AsyncSession, order_id: int) -> Progress:
    """The order's changing columns alone, for a caller that holds the rest."""
    row = (await execute_core(session, _PROGRESS, {"order_id": order_id})).one_or_none()
    if row is None:
        raise OrderNotFoundError()
    return Progress(**row._mapping)


async def stuck_order_ids(
    session: AsyncSession, *, changed_before: datetime | None
) -> Sequence[int]:
    """Orders still ``processing`` (all of them, or those unchanged since ``changed_before``)."""
    query = select(Order.id).where(Order.status == OrderStatus.PROCESSING)
    if changed_before is not None:
        query = query.where(Order.updated_at < changed_before)
    return (await session.scalars(query.order_by(Order.id))).all()


async def get_order(session: AsyncSession, order_id: int) -> Order:
    """The order with its lines; ``OrderNotFoundError`` if there is none."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id).options(selectinload(Order.lines))
    )
    if order is None:
        raise OrderNotFoundError()
    return order


def line_quantities(lines: Sequence[OrderLine]) -> list[tuple[int, int]]:
    """(product id, total quantity) per product, by product id: what ``reserve_stock`` takes.

    In product order, so two orders always lock products in the same order.
    """
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return sorted(totals.items())


async def _quantities(session: AsyncSession, order_id: int) -> list[tuple[int, int]]:
    rows = await session.execute(
        select(OrderLine.product_id, func.sum(OrderLine.quantity))
        .where(OrderLine.order_id == order_id)
        .group_by(OrderLine.product_id)
        .order_by(OrderLine.product_id)
    )
    return [(int(product_id), int(quantity)) for product_id, quantity in rows.all()]


async def reserve_stock(
    session: AsyncSession,
    order_id: int,
    quantities: Sequence[tuple[int, int]] | None = None,
) -> bool:
    """Reserve every line of the order, all or nothing; ``OutOfStockError`` if one is short.

    ``quantities`` (``line_quantities`` of the order) saves reading them back when the
    caller still has the lines. Returns False if the order was not waiting for a
    reservation (already handled).
    """
    if quantities is None:
        quantities = await _quantities(session, order_id)
        # End the read: the transaction below starts with a write.
        await session.commit()
    try:
        claimed = await execute_core(
            session, _RESERVE_ORDER, {"order_id": order_id, "now": utcnow()}
        )
        if claimed.rowcount == 0:
            await session.rollback()
            return False
        for product_id, quantity in quantities:
            result = await execute_core(
                session,
                _RESERVE_PRODUCT,
                {"product_id": product_id, "quantity": quantity},
            )
            if result.rowcount == 0:
                raise OutOfStockError(product_id)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return True


async def _release(
    session: AsyncSession, order_id: int, quantities: Sequence[tuple[int, int]]
) -> None:
    claimed = await session.execute(
        update(Order)
        .where(
            Order.id == order_id,
            Order.inventory_status == InventoryStatus.RESERVED,
        )
        .values(inventory_status=InventoryStatus.RELEASED, updated_at=utcnow())
    )
    if _rowcount(claimed) == 0:
        return
    for product_id, quantity in quantities:
        await session.execute(
            update(Product)
            .where(Product.id == product_id)
            .values(reserved=Product.reserved - quantity)
        )


async def settle(
    session: AsyncSession,
    order_id: int,
    status: OrderStatus,
    *,
    release_stock: bool,
    promises: Sequence[NewMessage],
    alerts: Sequence[NewMessage] = (),
    leased_until: datetime | None = None,
) -> list[OutboxMessage] | None:
    """Leave ``processing`` exactly once, in one transaction with what that promises.

    The final status, the released stock (compensation for a failed payment) and the
    outbox rows (the customer's e-mail, the warehouse's shipment, any ``alerts``) commit
    together or not at all. Returns those rows (their ids are set; the promises born
    claimed until ``leased_until`` if given), or None if the order was already settled.
    """
    quantities = await _quantities(session, order_id) if release_stock else []
    await session.commit()  # end the read; the transaction below starts with a write
    try:
        claimed = await execute_core(
            session,
            _SETTLE,
            {"order_id": order_id, "status": status, "now": utcnow()},
        )
        if claimed.rowcount == 0:
            await session.rollback()
            return None
        if release_stock:
            await _release(session, order_id, quantities)
        rows = [
            outbox.add(session, message, leased_until=leased_until)
            for message in promises
        ]
        rows += [outbox.add(session, message) for message in alerts]
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return rows


async def _update_order(
    session: AsyncSession,
    order_id: int,
    *conditions: Any,
    promises: Sequence[NewMessage] = (),
    **values: Any,
) -> bool:
    """One conditional update; ``promises`` are staged in its transaction if it applied."""
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, *conditions)
        .values(updated_at=utcnow(), **values)
    )
    applied = _rowcount(result) == 1
    if applied:
        for message in promises:
            outbox.add(session, message)
    await session.commit()
    return applied


async def mark_paid(session: AsyncSession, order_id: int, *, charge_id: str) -> bool:
    """Record a successful charge."""
    result = await execute_core(
        session,
        _MARK_PAID,
        {"order_id": order_id, "charge_id": charge_id, "now": utcnow()},
    )
    await session.commit()
    return result.rowcount == 1


async def mark_payment_failed(
    session: AsyncSession,
    order_id: int,
    *,
    reason: str,
    promises: Sequence[NewMessage] = (),
) -> bool:
    """Record a failed charge and why (never the token), with its alert if any."""
    return await _update_order(
        session,
        order_id,
        Order.payment_status == PaymentStatus.PENDING,
        promises=promises,
        payment_status=PaymentStatus.FAILED,
        failure_reason=reason,
    )


async def mark_inventory_failed(
    session: AsyncSession,
    order_id: int,
    *,
    reason: str,
    promises: Sequence[NewMessage] = (),
) -> bool:
    """Record a failed reservation (an earlier failure reason, e.g. the payment's, is kept)."""
    return await _update_order(
        session,
        order_id,
        Order.inventory_status == InventoryStatus.PENDING,
        promises=promises,
        inventory_status=InventoryStatus.FAILED,
        failure_reason=func.coalesce(Order.failure_reason, reason),
    )


async def mark_refunded(session: AsyncSession, order_id: int) -> bool:
    """Record that the charge was refunded."""
    return await _update_order(
        session,
        order_id,
        Order.payment_status == PaymentStatus.SUCCEEDED,
        payment_status=PaymentStatus.REFUNDED,
    )
