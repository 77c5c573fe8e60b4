"""``on_error`` handlers of the order tasks: record the outcome, alert, log ids; never raise.

Compensation (releasing stock, refunding) is not done here: payment and reservation run
concurrently, so only ``tasks.settle_order``, which waits for both, knows what to undo.
"""

import logging

import httpx

from app.clients.alerts import AlertClient, Severity
from app.clients.payment_gateway import PaymentDeclinedError
from app.db import SessionFactory
from app.orders import service
from app.orders.exceptions import OutOfStockError
from fastapi_tasks import Task

logger = logging.getLogger(__name__)


async def _alert(
    alerts: AlertClient, order_id: int, text: str, *, severity: Severity = "error"
) -> None:
    # A handler never raises: an alert that cannot be delivered is logged instead.
    try:
        await alerts.send(text=text, severity=severity, source="orders")
    except Exception as exc:
        logger.error("order %s: alert not delivered: %s", order_id, type(exc).__name__)


def payment_failure_reason(error: Exception) -> str:
    """A short, secret-free reason for a failed charge."""
    if isinstance(error, PaymentDeclinedError):
        return f"payment declined ({error.code})"
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return "payment gateway timed out"
    if isinstance(error, httpx.HTTPStatusError):
        return f"payment gateway error (HTTP {error.response.status_code})"
    return f"payment failed ({type(error).__name__})"


async def on_payment_failed(
    task: Task,
    error: Exception,
    *,
    order_id: int,
    sessions: SessionFactory,
    alerts: AlertClient,
) -> None:
    """Mark the payment failed and alert the operators (the token is never mentioned)."""
    reason = payment_failure_reason(error)
    try:
        async with sessions() as session:
            await service.mark_payment_failed(session, order_id, reason=reason)
    except Exception as exc:  # a handler never raises: log and carry on
        logger.error(
            "order %s: could not record payment failure: %s",
            order_id,
            type(exc).__name__,
        )
    logger.warning(
        "%s: order %s payment failed after %d attempt(s): %s",
        task.name,
        order_id,
        task.attempts,
        reason,
    )
    await _alert(
        alerts,
        order_id,
        f"Payment failed for order {order_id}: {reason}",
        severity="warning" if isinstance(error, PaymentDeclinedError) else "error",
    )


async def on_stock_reservation_failed(
    task: Task,
    error: Exception,
    *,
    order_id: int,
    sessions: SessionFactory,
    alerts: AlertClient,
) -> None:
    """Mark the reservation failed; only unexpected errors page someone."""
    if isinstance(error, OutOfStockError):
        reason = f"out of stock (product {error.product_id})"
    else:
        reason = f"stock reservation failed ({type(error).__name__})"
    try:
        async with sessions() as session:
            await service.mark_inventory_failed(session, order_id, reason=reason)
    except Exception as exc:
        logger.error(
            "order %s: could not record reservation failure: %s",
            order_id,
            type(exc).__name__,
        )
    logger.warning("%s: order %s: %s", task.name, order_id, reason)
    if isinstance(error, OutOfStockError):
        return
    await _alert(
        alerts, order_id, f"Stock reservation failed for order {order_id}: {reason}"
    )


async def on_warehouse_notification_failed(
    task: Task, error: Exception, *, order_id: int, alerts: AlertClient
) -> None:
    """A confirmed order the warehouse did not hear about needs a human."""
    logger.error(
        "%s: order %s not sent to the warehouse after %d attempt(s): %s",
        task.name,
        order_id,
        task.attempts,
        type(error).__name__,
    )
    await _alert(
        alerts,
        order_id,
        f"Warehouse not notified of confirmed order {order_id}; ship it by hand",
    )


async def on_settlement_failed(
    task: Task, error: Exception, *, order_id: int, alerts: AlertClient
) -> None:
    """The order stays ``processing`` and may hold stock or money: a human must look."""
    logger.error(
        "%s: order %s could not be settled: %s",
        task.name,
        order_id,
        type(error).__name__,
    )
    await _alert(
        alerts,
        order_id,
        (
            f"Order {order_id} could not be settled ({type(error).__name__}): "
            "check its payment and reserved stock by hand"
        ),
    )
