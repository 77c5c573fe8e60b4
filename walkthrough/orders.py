"""The orders example: the catalogue, then an approved, a declined and a sold-out order."""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from walkthrough import timing
from walkthrough.helpers import (
    by_name,
    check_fields,
    check_modes,
    mentions,
    step,
    wait_for_tasks,
)
from walkthrough.runner import StepContext, json_decimal, newer

# (task name, timing mode) of each task of an order, as docs/tutorial.md explains them.
ORDER_TASKS = {
    "orders.charge_payment": "immediate",
    "orders.reserve_stock": "after_route",
    "orders.settle_order": "after_route",
    "orders.send_order_email": "after_response",
    "orders.notify_warehouse": "after_response",
    "orders.track_order_created": "after_response",
}


async def order_outcome(ctx: StepContext, order_id: int) -> dict[str, Any]:
    order: dict[str, Any] = await ctx.get_json(
        "/orders/{order_id}", path_params={"order_id": order_id}
    )
    return order


async def product_available(ctx: StepContext, product_id: int) -> int | None:
    products = await ctx.get_json("/products")
    for product in products:
        if product["product_id"] == product_id:
            available: int = product["available"]
            return available
    return None


async def place_order(
    ctx: StepContext, product: Mapping[str, Any], quantity: int, token: str
) -> tuple[int, Decimal]:
    """``POST /orders``; checks the 202 and the exact total; returns (order id, total)."""
    scenario = ctx.scenario
    price = Decimal(str(product["price"]))
    response = await ctx.call(
        "POST",
        "/orders",
        json_body={
            "user_id": scenario.order_user_id,
            "email": scenario.order_email,
            "items": [
                {
                    "product_id": product["product_id"],
                    "quantity": quantity,
                    "price": float(price),
                }
            ],
            "payment_token": token,
        },
    )
    ctx.expect_status(response, 202, "POST /orders → 202 Accepted")
    body = json_decimal(response)
    ctx.must(
        'answer is {"order_id": <int>, "status": "processing", "total": ...}',
        isinstance(body.get("order_id"), int) and body.get("status") == "processing",
        body,
    )
    expected = price * quantity
    ctx.check(
        f"total is exactly {expected:.2f} (catalogue price x {quantity}, no float noise)",
        Decimal(str(body.get("total"))) == expected,
        body,
    )
    ctx.note(f"order_id = {body['order_id']} (varies)")
    return int(body["order_id"]), expected


async def settle(ctx: StepContext, order_id: int) -> dict[str, Any]:
    return await ctx.poll(
        f"GET /orders/{order_id} leaves 'processing'",
        lambda: order_outcome(ctx, order_id),
        lambda order: order["status"] != "processing",
        deadline_s=timing.SETTLE_DEADLINE_S,
    )


async def order_mails(ctx: StepContext, order_id: int) -> list[dict[str, Any]]:
    return [
        mail
        for mail in await ctx.outbox()
        if mail["to"] == ctx.scenario.order_email
        and mail["data"].get("order_id") == order_id
    ]


async def check_order_side_effects(
    ctx: StepContext, order_id: int, since: datetime | None, template: str
) -> None:
    """One e-mail with ``template``; the order's tasks in their modes (all finished)."""
    found = await wait_for_tasks(ctx, ORDER_TASKS, since)
    mails = await order_mails(ctx, order_id)
    ctx.check(
        f"exactly one e-mail for the order, template {template!r}",
        [mail["template"] for mail in mails] == [template],
        [mail["template"] for mail in mails],
    )
    warehouse = [
        call
        for call in await ctx.calls_to("warehouse")
        if isinstance(call["body"], dict) and call["body"].get("order_id") == order_id
    ]
    if template == "order_confirmation":
        ctx.check(
            "the warehouse was told to ship it (one call)",
            len(warehouse) == 1,
            warehouse,
        )
    else:
        ctx.check("the warehouse heard nothing of it", not warehouse, warehouse)
    # A decline or a shortage is an answer, booked inside its task: every task succeeds.
    check_modes(ctx, found, ORDER_TASKS)
    skipped = found.get("orders.notify_warehouse", {}).get("skipped")
    confirmed = template == "order_confirmation"
    ctx.check(
        "orders.notify_warehouse "
        + (
            "delivered the shipment"
            if confirmed
            else "is 'skipped': nothing to deliver"
        ),
        skipped is (not confirmed),
        found.get("orders.notify_warehouse"),
    )


def chosen_product(ctx: StepContext) -> dict[str, Any]:
    """The product "Browse the catalogue" picked (the step stops if there is none)."""
    product = ctx.scenario.product
    ctx.require("a product was chosen (Browse the catalogue)", product is not None)
    assert product is not None
    return product


async def order_settled_as(
    ctx: StepContext,
    product: dict[str, Any],
    quantity: int,
    token: str,
    expected: dict[str, str],
) -> int:
    """Place an order, wait until it settles, check its statuses; returns its id."""
    order_id, _ = await place_order(ctx, product, quantity, token)
    check_fields(ctx, await settle(ctx, order_id), expected)
    return order_id


async def payment_calls(ctx: StepContext, order_id: int) -> list[dict[str, Any]]:
    """The gateway's recorded calls about ``order_id`` (charges and refunds)."""
    return [
        call
        for call in await ctx.calls_to("payment")
        if isinstance(call["body"], dict)
        and call["body"].get("metadata", {}).get("order_id") == order_id
    ]


@step("Browse the catalogue", "GET /products")
async def catalogue(ctx: StepContext) -> None:
    products: list[dict[str, Any]] = await ctx.get_json("/products")
    ctx.check(
        "at least 5 products, each with product_id, name, price, available",
        len(products) >= 5
        and all(
            {"product_id", "name", "price", "available"} <= p.keys() for p in products
        ),
        products[:2],
    )
    in_stock = [p for p in products if p["available"] >= 3]
    ctx.must(
        "a product with at least 3 units left (else: restart with a fresh database)",
        bool(in_stock),
        products,
    )
    ctx.scenario.product = max(
        in_stock, key=lambda p: (p["available"], -p["product_id"])
    )
    product = ctx.scenario.product
    ctx.note(
        f"using product {product['product_id']} ({product['name']}, "
        f"{product['price']}, {product['available']} available)"
    )


@step(
    "Order with an approved card → confirmed",
    "POST /orders",
    "GET /orders/{order_id}",
    "GET /products",
    "GET /demo/tasks",
    "GET /demo/outbox",
    "GET /demo/calls",
)
async def approved_order(ctx: StepContext) -> None:
    product = chosen_product(ctx)
    product_id = int(product["product_id"])
    before = await product_available(ctx, product_id)
    since = await ctx.latest_time("tasks")
    order_id = await order_settled_as(
        ctx,
        product,
        2,
        "tok_visa",
        {
            "status": "confirmed",
            "payment_status": "succeeded",
            "inventory_status": "reserved",
        },
    )
    after = await product_available(ctx, product_id)
    ctx.check(
        "2 units are reserved: available went down by 2",
        before is not None and after == before - 2,
        {"before": before, "after": after},
    )
    await check_order_side_effects(ctx, order_id, since, "order_confirmation")
    found = by_name(newer(await ctx.tasks(), "scheduled_at", since), ORDER_TASKS)
    route_starts = [
        t["started_at"] for t in found.values() if t["mode"] == "after_route"
    ]
    response_starts = [
        t["started_at"] for t in found.values() if t["mode"] == "after_response"
    ]
    ctx.check(
        "every after_route task started before any after_response task",
        bool(route_starts and response_starts)
        and max(route_starts) <= min(response_starts),
        {"after_route": route_starts, "after_response": response_starts},
    )
    charges = await payment_calls(ctx, order_id)
    ctx.check(
        "one charge at the gateway, payment token redacted in /demo/calls",
        len(charges) == 1 and charges[0]["body"].get("token") != "tok_visa",
        charges,
    )


@step(
    "Declined card → payment_failed, stock restored, one notice, one alert",
    "POST /orders",
    "GET /orders/{order_id}",
    "GET /products",
    "GET /demo/tasks",
    "GET /demo/outbox",
    "GET /demo/calls",
)
async def declined_order(ctx: StepContext) -> None:
    product = chosen_product(ctx)
    product_id = int(product["product_id"])
    before = await product_available(ctx, product_id)
    since = await ctx.latest_time("tasks")
    alerts_since = await ctx.latest_time("alerts")
    order_id = await order_settled_as(
        ctx,
        product,
        1,
        "tok_declined",
        {
            "status": "payment_failed",
            "payment_status": "failed",
            "inventory_status": "released",
        },
    )
    after = await product_available(ctx, product_id)
    ctx.check(
        "stock restored: available is what it was before the order",
        after == before,
        {"before": before, "after": after},
    )
    await check_order_side_effects(ctx, order_id, since, "order_payment_failed")

    async def order_alerts() -> list[dict[str, Any]]:
        return [
            alert
            for alert in newer(await ctx.calls_to("alerts"), "at", alerts_since)
            if mentions(alert["body"], order_id)
        ]

    alerts = await ctx.poll(
        "an alert about the order arrives",
        order_alerts,
        bool,
        deadline_s=timing.SETTLE_DEADLINE_S,
    )
    ctx.check("exactly one alert about the order", len(alerts) == 1, alerts)


@step(
    "Sold-out product → inventory_failed, payment refunded",
    "GET /products",
    "POST /orders",
    "GET /orders/{order_id}",
    "GET /demo/tasks",
    "GET /demo/outbox",
    "GET /demo/calls",
)
async def sold_out_order(ctx: StepContext) -> None:
    products: list[dict[str, Any]] = await ctx.get_json("/products")
    # The seeded catalogue has a product with no stock; otherwise ask for one unit more
    # than the scarcest product has left.
    candidates = [p for p in products if p["available"] < 100]
    ctx.must("a sold-out (or scarce) product exists", bool(candidates), products)
    product = min(candidates, key=lambda p: (p["available"], p["product_id"]))
    quantity = int(product["available"]) + 1
    ctx.note(
        f"ordering {quantity} x product {product['product_id']} ({product['name']}), "
        f"{product['available']} available"
    )
    since = await ctx.latest_time("tasks")
    order_id = await order_settled_as(
        ctx,
        product,
        quantity,
        "tok_visa",
        {
            "status": "inventory_failed",
            "payment_status": "refunded",
            "inventory_status": "failed",
        },
    )
    await check_order_side_effects(ctx, order_id, since, "order_out_of_stock")
    payments = [
        urlsplit(call["url"]).path for call in await payment_calls(ctx, order_id)
    ]
    ctx.check(
        "the gateway saw the charge, then its refund",
        payments == ["/charge", "/refund"],
        payments,
    )
