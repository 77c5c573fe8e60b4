"""Background work of an order, and how it is scheduled.

Timeline of one ``POST /orders`` (as in the seed, with the gaps closed):

- immediate, shielded: ``charge_payment`` (``on_error``: mark failed + alert)
- after_route, shielded: ``reserve_stock`` (all or nothing; ``on_error``: mark failed)
- after_route, shielded: ``settle_order`` waits for both, compensates (release stock or
  refund), and sets the final status exactly once (``on_error``: alert, order needs a human)
- after_response: ``send_order_email`` (the one e-mail), ``notify_warehouse`` (confirmed only),
  analytics through the tracker; the first two wait for the settlement.
"""

import logging
from decimal import Decimal
from functools import partial

from pydantic import SecretStr

from app.analytics.tracking import EventTracker
from app.clients._base import RETRYABLE
from app.clients.alerts import AlertClient
from app.clients.email_service import EmailServiceClient
from app.clients.payment_gateway import PaymentGatewayClient
from app.clients.warehouse import WarehouseClient
from app.db import SessionFactory
from app.orders import service
from app.orders.models import InventoryStatus, Order, OrderStatus, PaymentStatus
from app.orders.task_error_handlers import (
    on_payment_failed,
    on_settlement_failed,
    on_stock_reservation_failed,
    on_warehouse_notification_failed,
)
from fastapi_tasks import Task, TasksScheduler

logger = logging.getLogger(__name__)


async def charge_payment(
    *,
    order_id: int,
    amount: Decimal,
    payment_token: SecretStr,
    payments: PaymentGatewayClient,
    sessions: SessionFactory,
) -> str:
    """Charge the order's total; the gateway dedupes on the order id. Returns the charge id."""
    charge = await payments.charge(
        order_id=order_id, amount=amount, token=payment_token
    )
    async with sessions() as session:
        await service.mark_paid(session, order_id, charge_id=charge.charge_id)
    return charge.charge_id


async def reserve_stock(*, order_id: int, sessions: SessionFactory) -> None:
    """Reserve every line in one transaction (raises ``OutOfStockError``)."""
    async with sessions() as session:
        await service.reserve_stock(session, order_id)


async def settle_order(
    *,
    order_id: int,
    payment: Task,
    reservation: Task,
    sessions: SessionFactory,
    payments: PaymentGatewayClient,
    alerts: AlertClient,
) -> OrderStatus:
    """Once payment and reservation are both done, undo the half that succeeded alone."""
    # wait() returns after the task's on_error handler ran, so the order row is up to date.
    await payment.wait()
    await reservation.wait()
    async with sessions() as session:
        order = await service.get_order(session, order_id)
    paid = order.payment_status == PaymentStatus.SUCCEEDED
    reserved = order.inventory_status == InventoryStatus.RESERVED
    if paid and reserved:
        outcome = OrderStatus.CONFIRMED
    elif not paid:
        outcome = OrderStatus.PAYMENT_FAILED
        if order.payment_status == PaymentStatus.PENDING:
            # The charge never reported back (e.g. cancelled at shutdown): not paid.
            async with sessions() as session:
                await service.mark_payment_failed(
                    session, order_id, reason="payment interrupted"
                )
        if reserved:
            async with sessions() as session:
                await service.release_stock(session, order_id)
        else:
            await _close_interrupted_reservation(order, sessions=sessions)
    else:
        outcome = OrderStatus.INVENTORY_FAILED
        await _close_interrupted_reservation(order, sessions=sessions)
        await _refund(order, payments=payments, sessions=sessions, alerts=alerts)
    async with sessions() as session:
        await service.set_final_status(session, order_id, outcome)
    logger.info("order %s settled: %s", order_id, outcome)
    return outcome


async def _close_interrupted_reservation(
    order: Order, *, sessions: SessionFactory
) -> None:
    # A reservation cancelled before it ran (shutdown) holds nothing: say so, don't leave
    # a settled order "pending".
    if order.inventory_status == InventoryStatus.PENDING:
        async with sessions() as session:
            await service.mark_inventory_failed(
                session, order.id, reason="stock reservation interrupted"
            )


async def _refund(
    order: Order,
    *,
    payments: PaymentGatewayClient,
    sessions: SessionFactory,
    alerts: AlertClient,
) -> None:
    if order.charge_id is None:
        return
    try:
        await payments.refund(
            order_id=order.id, charge_id=order.charge_id, amount=order.total
        )
    except Exception as exc:
        logger.error("order %s: refund failed: %s", order.id, type(exc).__name__)
        await alerts.send(
            text=f"Refund failed for order {order.id}: refund charge {order.charge_id} by hand",
            source="orders",
        )
        return
    async with sessions() as session:
        await service.mark_refunded(session, order.id)


EMAIL_TEMPLATES: dict[str, tuple[str, str]] = {
    OrderStatus.CONFIRMED: ("order_confirmation", "Order #{id} confirmed"),
    OrderStatus.PAYMENT_FAILED: ("order_payment_failed", "Order #{id}: payment failed"),
    OrderStatus.INVENTORY_FAILED: (
        "order_out_of_stock",
        "Order #{id} could not be fulfilled; your payment was refunded",
    ),
}


async def send_order_email(
    *,
    order_id: int,
    settlement: Task,
    sessions: SessionFactory,
    email: EmailServiceClient,
) -> None:
    """The order's one e-mail: a confirmation, or a notice saying what went wrong."""
    await settlement.wait()
    async with sessions() as session:
        order = await service.get_order(session, order_id)
    if order.customer_notified_at is not None:
        return
    if order.status == OrderStatus.PROCESSING:
        logger.error("order %s was never settled; no e-mail sent", order_id)
        return
    template, subject = EMAIL_TEMPLATES[order.status]
    data: dict[str, object] = {
        "order_id": order.id,
        "status": order.status,
        "items": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "price": str(line.unit_price),
            }
            for line in order.lines
        ],
        "total": str(order.total),
        "currency": order.currency,
    }
    if order.status == OrderStatus.PAYMENT_FAILED:
        data["reason"] = order.failure_reason
    elif order.status == OrderStatus.INVENTORY_FAILED:
        data["reason"] = order.failure_reason
        data["refunded"] = order.payment_status == PaymentStatus.REFUNDED
    await email.send(
        to=order.email,
        subject=subject.format(id=order.id),
        template=template,
        data=data,
    )
    async with sessions() as session:
        await service.mark_customer_notified(session, order_id)


async def notify_warehouse(
    *,
    order_id: int,
    settlement: Task,
    sessions: SessionFactory,
    warehouse: WarehouseClient,
) -> None:
    """Ask the warehouse to ship, only once the order is confirmed."""
    await settlement.wait()
    async with sessions() as session:
        order = await service.get_order(session, order_id)
    if order.status != OrderStatus.CONFIRMED:
        return
    await warehouse.prepare_shipment(
        order_id=order.id,
        items=[{"sku": line.product_id, "qty": line.quantity} for line in order.lines],
    )


def schedule_order_processing(
    tasks: TasksScheduler,
    *,
    order: Order,
    payment_token: SecretStr,
    sessions: SessionFactory,
    payments: PaymentGatewayClient,
    email: EmailServiceClient,
    warehouse: WarehouseClient,
    alerts: AlertClient,
    tracker: EventTracker,
    email_retry_delay_s: float,
) -> None:
    """Schedule the whole pipeline of a freshly committed order."""
    order_id = order.id
    # Shielded: once the card may be charged, the outcome must be recorded even at shutdown.
    payment = tasks.task(
        name="orders.charge_payment",
        shield=True,
        on_error=partial(
            on_payment_failed, order_id=order_id, sessions=sessions, alerts=alerts
        ),
    ).schedule(
        charge_payment,
        order_id=order_id,
        amount=order.total,
        payment_token=payment_token,
        payments=payments,
        sessions=sessions,
    )
    reservation = tasks.after_route.task(
        name="orders.reserve_stock",
        shield=True,
        on_error=partial(
            on_stock_reservation_failed,
            order_id=order_id,
            sessions=sessions,
            alerts=alerts,
        ),
    ).schedule(reserve_stock, order_id=order_id, sessions=sessions)
    settlement = tasks.after_route.task(
        name="orders.settle_order",
        shield=True,
        on_error=partial(on_settlement_failed, order_id=order_id, alerts=alerts),
    ).schedule(
        settle_order,
        order_id=order_id,
        payment=payment,
        reservation=reservation,
        sessions=sessions,
        payments=payments,
        alerts=alerts,
    )
    tasks.after_response.task(
        name="orders.send_order_email",
        retries=3,
        retry_delay=email_retry_delay_s,
        retry_on=RETRYABLE,
    ).schedule(
        send_order_email,
        order_id=order_id,
        settlement=settlement,
        sessions=sessions,
        email=email,
    )
    tasks.after_response.task(
        name="orders.notify_warehouse",
        retries=2,
        retry_delay=email_retry_delay_s,
        retry_on=RETRYABLE,
        on_error=partial(
            on_warehouse_notification_failed, order_id=order_id, alerts=alerts
        ),
    ).schedule(
        notify_warehouse,
        order_id=order_id,
        settlement=settlement,
        sessions=sessions,
        warehouse=warehouse,
    )
    tasks.after_response.task(name="orders.track_order_created").schedule(
        tracker.track,
        event="order_created",
        user_id=order.user_id,
        properties={
            "order_id": order_id,
            "total": str(order.total),
            "currency": order.currency,
            "items_count": len(order.lines),
        },
    )
