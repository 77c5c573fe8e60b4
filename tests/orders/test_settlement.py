"""``settlement.decide``: the outcome of an order from its two halves (a pure function)."""

from decimal import Decimal

import httpx
import pytest

from app.clients.payment_gateway import PaymentDeclinedError
from app.orders.models import Order, OrderStatus
from app.orders.settlement import Decision, decide, payment_failure_reason, promises


@pytest.mark.parametrize(
    ("payment", "inventory", "expected"),
    [
        ("succeeded", "reserved", Decision(OrderStatus.CONFIRMED)),
        (
            "failed",
            "reserved",
            Decision(OrderStatus.PAYMENT_FAILED, release_stock=True),
        ),
        ("failed", "failed", Decision(OrderStatus.PAYMENT_FAILED)),
        ("succeeded", "failed", Decision(OrderStatus.INVENTORY_FAILED, refund=True)),
        # A settlement that refunded, then died before committing, is finished alike.
        ("refunded", "failed", Decision(OrderStatus.INVENTORY_FAILED, refund=True)),
        # Either half unknown: wait (a lost payment answer is not a decline).
        ("pending", "reserved", None),
        ("pending", "failed", None),
        ("succeeded", "pending", None),
        ("failed", "pending", None),
    ],
)
def test_decide(payment: str, inventory: str, expected: Decision | None) -> None:
    assert decide(payment, inventory) == expected


def test_payment_failure_reasons_name_no_secret() -> None:
    request = httpx.Request("POST", "https://payments.mock/charge")
    response = httpx.Response(503, request=request)

    assert payment_failure_reason(PaymentDeclinedError(1, "card_declined")) == (
        "payment declined (card_declined)"
    )
    assert payment_failure_reason(
        httpx.HTTPStatusError("boom", request=request, response=response)
    ) == ("payment gateway error (HTTP 503)")


def test_the_out_of_stock_email_says_refunded_only_when_it_was() -> None:
    order = Order(id=3, email="ada@example.com", total=Decimal("120.00"), lines=[])
    order.currency = "USD"
    reason = "out of stock (product 6)"

    [done] = promises(order, OrderStatus.INVENTORY_FAILED, refunded=True, reason=reason)
    [pending] = promises(
        order, OrderStatus.INVENTORY_FAILED, refunded=False, reason=reason
    )

    assert done.payload["subject"].endswith("your payment was refunded")
    assert done.payload["data"]["refunded"] is True
    assert pending.payload["subject"].endswith("your refund is on its way")
    assert pending.payload["data"]["refunded"] is False
    assert done.payload["data"]["reason"] == reason
