"""How an order ends, decided from its payment and stock outcomes alone (pure functions).

The normal path and the recovery path after a crash both call ``decide``; what the order
then promises (the customer's one e-mail, the warehouse's shipment) is built here too, and
written to the outbox in the same transaction that settles the order.
"""

from dataclasses import dataclass

import httpx

from app.clients.payment_gateway import PaymentDeclinedError
from app.orders.models import InventoryStatus, Order, OrderStatus, PaymentStatus
from app.outbox.models import OutboxKind
from app.outbox.service import NewMessage

SUBJECT = "order"


@dataclass(frozen=True, slots=True)
class Decision:
    """The final status, and which half to undo (the stock, or the charge)."""

    status: OrderStatus
    release_stock: bool = False
    refund: bool = False


def decide(payment_status: str, inventory_status: str) -> Decision | None:
    """The order's outcome, or None while either side is still unknown.

    A payment still ``pending`` is not a decline: its answer may have been lost, and only
    the gateway can say (the order waits to be reconciled, never guesses).
    """
    if (
        payment_status == PaymentStatus.PENDING
        or inventory_status == InventoryStatus.PENDING
    ):
        return None
    reserved = inventory_status == InventoryStatus.RESERVED
    if payment_status == PaymentStatus.REFUNDED:
        # Refunded by a settlement that died before committing: finish that one (the
        # refund is idempotent by key).
        return Decision(
            OrderStatus.INVENTORY_FAILED, release_stock=reserved, refund=True
        )
    paid = payment_status == PaymentStatus.SUCCEEDED
    if paid and reserved:
        return Decision(OrderStatus.CONFIRMED)
    if not paid:
        return Decision(OrderStatus.PAYMENT_FAILED, release_stock=reserved)
    return Decision(OrderStatus.INVENTORY_FAILED, refund=True)


def payment_failure_reason(error: BaseException) -> str:
    """A short, secret-free reason for a failed charge."""
    if isinstance(error, PaymentDeclinedError):
        return f"payment declined ({error.code})"
    if isinstance(error, httpx.HTTPStatusError):
        return f"payment gateway error (HTTP {error.response.status_code})"
    return f"payment failed ({type(error).__name__})"


EMAIL_TEMPLATES: dict[str, tuple[str, str]] = {
    OrderStatus.CONFIRMED: ("order_confirmation", "Order #{id} confirmed"),
    OrderStatus.PAYMENT_FAILED: ("order_payment_failed", "Order #{id}: payment failed"),
    OrderStatus.INVENTORY_FAILED: (
        "order_out_of_stock",
        "Order #{id} could not be fulfilled; your payment was refunded",
    ),
}


def promises(
    order: Order, status: OrderStatus, *, refunded: bool, reason: str | None
) -> list[NewMessage]:
    """What settling ``order`` as ``status`` promises: one e-mail, and a shipment if confirmed.

    Only the order's fixed parts are read (id, e-mail, lines, total); ``reason`` is why it
    failed, as recorded by its tasks.
    """
    template, subject = EMAIL_TEMPLATES[status]
    if status == OrderStatus.INVENTORY_FAILED and not refunded:
        # The refund failed (an operator was alerted): do not tell the customer it happened.
        subject = "Order #{id} could not be fulfilled; your refund is on its way"
    data: dict[str, object] = {
        "order_id": order.id,
        "status": str(status),
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
    if status != OrderStatus.CONFIRMED:
        data["reason"] = reason
    if status == OrderStatus.INVENTORY_FAILED:
        data["refunded"] = refunded
    messages = [
        NewMessage(
            kind=OutboxKind.EMAIL,
            topic=template,
            payload={
                "to": order.email,
                "subject": subject.format(id=order.id),
                "template": template,
                "data": data,
            },
            subject_type=SUBJECT,
            subject_id=order.id,
        )
    ]
    if status == OrderStatus.CONFIRMED:
        messages.append(
            NewMessage(
                kind=OutboxKind.WAREHOUSE,
                topic="shipment",
                payload={
                    "order_id": order.id,
                    "items": [
                        {"sku": line.product_id, "qty": line.quantity}
                        for line in order.lines
                    ],
                },
                subject_type=SUBJECT,
                subject_id=order.id,
            )
        )
    return messages
