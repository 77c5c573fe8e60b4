"""The tutorial's steps, in order (``docs/tutorial.md`` has one section per step).

Each step calls only the endpoints it declares; ``tests/test_walkthrough_unit.py`` checks
that the tutorial's section for the step shows ``curl`` commands for exactly those
endpoints, under a heading equal to the step's title.
"""

import io
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from app.walkthrough.runner import (
    ALL_OK,
    Endpoint,
    Step,
    StepContext,
    StepFn,
    json_decimal,
    newer,
)

# Deadlines for outcomes that arrive in the background. Generous: the server may run with
# its default settings (e-mail retries after 1, 2 and 4 s; analytics flushed after 5 s).
SETTLE_DEADLINE_S = 15.0
EMAIL_OUTAGE_DEADLINE_S = 40.0
ANALYTICS_DEADLINE_S = 20.0

PASSWORD = "correct horse battery"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
LANES = ("immediate", "after_route", "after_response")
IMAGE_SIZE = (640, 480)
THUMBNAIL_SIZE = (300, 225)  # 640x480 bounded to 300x300, aspect kept

# (task name, timing mode) of each example, as docs/tutorial.md explains them.
ORDER_TASKS = {
    "orders.charge_payment": "immediate",
    "orders.reserve_stock": "after_route",
    "orders.settle_order": "after_route",
    "orders.send_order_email": "after_response",
    "orders.notify_warehouse": "after_response",
    "orders.track_order_created": "after_response",
}
REGISTRATION_TASKS = {
    "users.send_verification_email": "after_response",
    "users.track_registration": "after_response",
}
IMAGE_TASKS = {"images.process_upload": "immediate"}

STEPS: list[Step] = []


def step(title: str, *endpoints: str) -> Callable[[StepFn], StepFn]:
    """Register the decorated coroutine as the next step."""

    def register(run: StepFn) -> StepFn:
        STEPS.append(Step(title, tuple(Endpoint.parse(e) for e in endpoints), run))
        return run

    return register


def mentions(text: object, number: int) -> bool:
    """Whether ``number`` appears in ``text`` as a whole number (``2`` not in ``21``)."""
    return re.search(rf"(?<!\d){number}(?!\d)", str(text)) is not None


def png_bytes(size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    """A small generated PNG (what the tutorial's one-line Python command writes)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def by_name(
    tasks: list[dict[str, Any]], names: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The newest task of each name in ``names`` (``tasks`` is newest first)."""
    found: dict[str, dict[str, Any]] = {}
    for task in tasks:
        if task["name"] in names and task["name"] not in found:
            found[task["name"]] = task
    return found


async def wait_for_tasks(
    ctx: StepContext,
    names: Mapping[str, str],
    since: datetime | None,
    *,
    deadline_s: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll ``/demo/tasks`` until every named task scheduled after ``since`` has finished."""

    async def fetch() -> dict[str, dict[str, Any]]:
        return by_name(newer(await ctx.tasks(), "scheduled_at", since), names)

    def done(found: dict[str, dict[str, Any]]) -> bool:
        return len(found) == len(names) and all(
            t["state"] in TERMINAL for t in found.values()
        )

    return await ctx.poll(
        f"/demo/tasks: {', '.join(names)} finished",
        fetch,
        done,
        deadline_s=SETTLE_DEADLINE_S if deadline_s is None else deadline_s,
    )


def check_modes(
    ctx: StepContext,
    found: dict[str, dict[str, Any]],
    modes: Mapping[str, str],
    states: Mapping[str, str] | None = None,
) -> None:
    """Each task ran in its timing mode and ended in the expected state."""
    states = states or {}
    for name, mode in modes.items():
        task = found.get(name, {})
        state = states.get(name, "succeeded")
        ctx.check(
            f"{name}: {mode}, {state}",
            task.get("mode") == mode and task.get("state") == state,
            {key: task.get(key) for key in ("mode", "state", "attempts", "error")},
        )


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
        deadline_s=SETTLE_DEADLINE_S,
    )


def check_fields(
    ctx: StepContext, body: Mapping[str, Any], expected: Mapping[str, Any]
) -> None:
    shown = ", ".join(f"{key}={value}" for key, value in expected.items())
    ctx.check(
        shown,
        all(body.get(key) == value for key, value in expected.items()),
        {key: body.get(key) for key in expected},
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
    failed_task = {
        "order_payment_failed": "orders.charge_payment",
        "order_out_of_stock": "orders.reserve_stock",
    }.get(template)
    states = {failed_task: "failed"} if failed_task else {}
    check_modes(ctx, found, ORDER_TASKS, states)


async def set_fault(ctx: StepContext, service: str, fault: str) -> None:
    """``PUT /demo/faults {service: fault}``; the answer must show it."""
    response = await ctx.call("PUT", "/demo/faults", json_body={service: fault})
    ok = response.status_code == 200 and response.json().get(service) == fault
    ctx.must(
        f'PUT /demo/faults {{"{service}": "{fault}"}} → 200, {service} is {fault!r}',
        ok,
        f"HTTP {response.status_code} {response.text}",
    )


# --------------------------------------------------------------------------------------
@step(
    "Check the service and reset the fault switches", "GET /health", "PUT /demo/faults"
)
async def service_is_up(ctx: StepContext) -> None:
    response = await ctx.call("GET", "/health")
    ctx.expect_status(response, 200)
    ctx.check('GET /health says {"status": "ok"}', response.json() == {"status": "ok"})
    response = await ctx.call("PUT", "/demo/faults", json_body=dict(ALL_OK))
    ctx.expect_status(response, 200)
    ctx.check(
        "every fake system is 'ok'", response.json() == dict(ALL_OK), response.json()
    )


@step("Open the dashboard", "GET /", "GET /demo/tasks")
async def dashboard(ctx: StepContext) -> None:
    response = await ctx.call("GET", "/")
    ctx.expect_status(response, 200, "GET / → 200 (the live dashboard)")
    ctx.check(
        "it is an HTML page with the immediate, after_route and after_response lanes",
        response.headers.get("content-type", "").startswith("text/html")
        and all(lane in response.text for lane in LANES),
        response.headers.get("content-type"),
    )
    tasks = await ctx.tasks()
    fields = {"name", "mode", "state", "attempts", "scheduled_at", "finished_at"}
    ctx.check(
        "GET /demo/tasks lists tasks with name, mode, state, attempts, times",
        all(fields <= task.keys() for task in tasks),
        tasks[:1],
    )
    ctx.note(f"open {ctx.http.base_url}/ in a browser and keep it open")


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
    product = ctx.scenario.product
    ctx.require("a product was chosen (Browse the catalogue)", product is not None)
    assert product is not None
    product_id = int(product["product_id"])
    before = await product_available(ctx, product_id)
    since = await ctx.latest_time("tasks")
    order_id, _ = await place_order(ctx, product, 2, "tok_visa")
    order = await settle(ctx, order_id)
    check_fields(
        ctx,
        order,
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
    charges = [
        call
        for call in await ctx.calls_to("payment")
        if isinstance(call["body"], dict)
        and call["body"].get("metadata", {}).get("order_id") == order_id
    ]
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
    product = ctx.scenario.product
    ctx.require("a product was chosen (Browse the catalogue)", product is not None)
    assert product is not None
    product_id = int(product["product_id"])
    before = await product_available(ctx, product_id)
    since = await ctx.latest_time("tasks")
    alerts_since = await ctx.latest_time("alerts")
    order_id, _ = await place_order(ctx, product, 1, "tok_declined")
    order = await settle(ctx, order_id)
    check_fields(
        ctx,
        order,
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
    found = by_name(newer(await ctx.tasks(), "scheduled_at", since), ORDER_TASKS)
    ctx.check(
        "orders.charge_payment failed with PaymentDeclinedError",
        found.get("orders.charge_payment", {}).get("error") == "PaymentDeclinedError",
        found.get("orders.charge_payment"),
    )

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
        deadline_s=SETTLE_DEADLINE_S,
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
    order_id, _ = await place_order(ctx, product, quantity, "tok_visa")
    order = await settle(ctx, order_id)
    check_fields(
        ctx,
        order,
        {
            "status": "inventory_failed",
            "payment_status": "refunded",
            "inventory_status": "failed",
        },
    )
    await check_order_side_effects(ctx, order_id, since, "order_out_of_stock")
    payments = [
        urlsplit(call["url"]).path
        for call in await ctx.calls_to("payment")
        if isinstance(call["body"], dict)
        and call["body"].get("metadata", {}).get("order_id") == order_id
    ]
    ctx.check(
        "the gateway saw the charge, then its refund",
        payments == ["/charge", "/refund"],
        payments,
    )


@step(
    "Register → 201 and a verification e-mail",
    "POST /register",
    "GET /demo/outbox",
    "GET /demo/tasks",
)
async def register(ctx: StepContext) -> None:
    scenario = ctx.scenario
    since = await ctx.latest_time("tasks")
    response = await ctx.call(
        "POST",
        "/register",
        json_body={"email": scenario.user_email, "password": PASSWORD, "name": "Ada"},
    )
    ctx.expect_status(response, 201, "POST /register → 201 Created")
    body = response.json()
    ctx.must(
        'answer is {"user_id": <int>, "message": ...}',
        isinstance(body.get("user_id"), int) and bool(body.get("message")),
        body,
    )
    scenario.user_id = int(body["user_id"])
    ctx.note(f"user_id = {scenario.user_id} (varies), e-mail {scenario.user_email}")

    async def verification_mails() -> list[dict[str, Any]]:
        return [
            mail
            for mail in await ctx.outbox()
            if mail["to"] == scenario.user_email
            and mail["template"] == "email_verification"
        ]

    mails = await ctx.poll(
        "the verification e-mail is in /demo/outbox",
        verification_mails,
        bool,
        deadline_s=SETTLE_DEADLINE_S,
    )
    url = str(mails[0]["data"].get("verification_url", ""))
    tokens = parse_qs(urlsplit(url).query).get("token", [])
    ctx.must(
        "its data.verification_url ends in ?token=<token>",
        len(tokens) == 1 and url.endswith(f"token={tokens[0]}"),
        "no token in the link",
    )
    scenario.verification_token = tokens[0]
    ctx.note(f"token found ({len(tokens[0])} characters; not printed)")
    found = await wait_for_tasks(ctx, REGISTRATION_TASKS, since)
    check_modes(ctx, found, REGISTRATION_TASKS)


@step(
    "Verify the e-mail address → verified, welcome e-mail",
    "POST /verify",
    "GET /users/{user_id}",
    "GET /demo/outbox",
)
async def verify(ctx: StepContext) -> None:
    scenario = ctx.scenario
    token, user_id = scenario.verification_token, scenario.user_id
    ctx.require(
        "a token and a user came from the registration step", bool(token and user_id)
    )
    assert token is not None
    response = await ctx.call("POST", "/verify", params={"token": token})
    ctx.expect_status(response, 200, "POST /verify?token=... → 200")
    ctx.check(
        'answer is {"message": "Email verified successfully"}',
        response.json() == {"message": "Email verified successfully"},
        response.json(),
    )
    user = await ctx.get_json("/users/{user_id}", path_params={"user_id": user_id})
    check_fields(
        ctx, user, {"user_id": user_id, "email": scenario.user_email, "verified": True}
    )
    ctx.check(
        "its notifications: the verification e-mail, sent (an outbox row)",
        [
            (n.get("topic"), n.get("status"))
            for n in user.get("notifications", [])
            if n.get("topic") == "email_verification"
        ]
        == [("email_verification", "sent")],
        user.get("notifications"),
    )
    again = await ctx.call("POST", "/verify", params={"token": token})
    ctx.check(
        "the same token a second time → 400 Invalid or expired token",
        again.status_code == 400
        and again.json() == {"detail": "Invalid or expired token"},
        f"HTTP {again.status_code} {again.text}",
    )

    async def welcome() -> list[dict[str, Any]]:
        return [
            mail
            for mail in await ctx.outbox()
            if mail["to"] == scenario.user_email and mail["template"] == "welcome"
        ]

    await ctx.poll(
        "a welcome e-mail arrives (after_response)",
        welcome,
        bool,
        deadline_s=SETTLE_DEADLINE_S,
        must=False,
    )


@step(
    "E-mail outage → registration still 201, retries, then one alert",
    "PUT /demo/faults",
    "POST /register",
    "GET /demo/tasks",
    "GET /demo/calls",
    "GET /users/{user_id}",
    "POST /verification/resend",
)
async def email_outage(ctx: StepContext) -> None:
    scenario = ctx.scenario
    address = f"outage-{scenario.suffix}@example.com"
    await set_fault(ctx, "email", "down")
    try:
        since = await ctx.latest_time("tasks")
        alerts_since = await ctx.latest_time("alerts")
        response = await ctx.call(
            "POST",
            "/register",
            json_body={"email": address, "password": PASSWORD, "name": "Bob"},
        )
        ctx.expect_status(
            response, 201, "POST /register → 201 even though e-mail is down"
        )
        user_id = int(response.json()["user_id"])
        found = await wait_for_tasks(
            ctx,
            {"users.send_verification_email": "after_response"},
            since,
            deadline_s=EMAIL_OUTAGE_DEADLINE_S,
        )
        task = found["users.send_verification_email"]
        ctx.check(
            "users.send_verification_email: after_response, failed after 4 attempts",
            task["mode"] == "after_response"
            and task["state"] == "failed"
            and task["attempts"] == 4,
            {key: task.get(key) for key in ("mode", "state", "attempts", "error")},
        )
        sent = [
            call
            for call in await ctx.calls_to("email")
            if isinstance(call["body"], dict) and call["body"].get("to") == address
        ]
        ctx.check(
            "the e-mail service saw 4 attempts, each answered 503",
            [call["status"] for call in sent] == [503] * 4,
            [call["status"] for call in sent],
        )

        async def promised() -> list[dict[str, Any]]:
            user = await ctx.get_json(
                "/users/{user_id}", path_params={"user_id": user_id}
            )
            notifications: list[dict[str, Any]] = user.get("notifications", [])
            return notifications

        def settled(rows: list[dict[str, Any]]) -> bool:
            return any(row.get("kind") == "alert" for row in rows)

        rows = await ctx.poll(
            "GET /users/{id}: the e-mail's outbox row failed and an alert row was added",
            promised,
            settled,
            deadline_s=SETTLE_DEADLINE_S,
        )
        emails = [row for row in rows if row.get("topic") == "email_verification"]
        ctx.must(
            "the verification e-mail: failed after 4 attempts, HTTP 503 recorded",
            len(emails) == 1
            and emails[0].get("status") == "failed"
            and emails[0].get("attempts") == 4
            and "503" in str(emails[0].get("last_error")),
            emails,
        )
        message_id = int(emails[0]["message_id"])

        async def row_alerts() -> list[dict[str, Any]]:
            return [
                alert
                for alert in newer(await ctx.calls_to("alerts"), "at", alerts_since)
                if mentions(alert["body"], message_id)
            ]

        alerts = await ctx.poll(
            "an alert about that e-mail arrives",
            row_alerts,
            bool,
            deadline_s=SETTLE_DEADLINE_S,
        )
        ctx.check("exactly one alert (not one per attempt)", len(alerts) == 1, alerts)
    finally:
        await set_fault(ctx, "email", "ok")

    # The link is gone with the failed e-mail: Bob asks for a new one. Within a minute of
    # the last link nothing is sent, and the answer cannot tell him (or anyone) that.
    answers = []
    for who in (address, f"nobody-{scenario.suffix}@example.com"):
        answer = await ctx.call(
            "POST", "/verification/resend", json_body={"email": who}
        )
        answers.append((answer.status_code, answer.json()))
    ctx.check(
        "POST /verification/resend → 202, the same answer for Bob and for nobody",
        answers[0][0] == 202 and answers[0] == answers[1],
        answers,
    )


async def upload(ctx: StepContext, user_id: int) -> int:
    response = await ctx.call(
        "POST",
        "/upload-image",
        params={"user_id": user_id},
        files={"file": ("demo.png", png_bytes(), "image/png")},
    )
    ctx.expect_status(response, 202, "POST /upload-image → 202 Accepted")
    body = response.json()
    ctx.must(
        'answer is {"image_id": <int>, "status": "processing", "message": ...}',
        isinstance(body.get("image_id"), int) and body.get("status") == "processing",
        body,
    )
    ctx.note(f"image_id = {body['image_id']} (varies)")
    return int(body["image_id"])


async def image_outcome(ctx: StepContext, image_id: int) -> dict[str, Any]:
    image = await ctx.poll(
        f"GET /images/{image_id} leaves 'processing'",
        lambda: ctx.get_json("/images/{image_id}", path_params={"image_id": image_id}),
        lambda image: image["status"] != "processing",
        deadline_s=SETTLE_DEADLINE_S,
    )
    outcome: dict[str, Any] = image
    return outcome


@step(
    "Upload an image → ready, with a thumbnail",
    "POST /upload-image",
    "GET /images/{image_id}",
    "GET /demo/cdn/{path:path}",
    "GET /demo/tasks",
    "GET /demo/calls",
)
async def image_ready(ctx: StepContext) -> None:
    since = await ctx.latest_time("tasks")
    cdn_since = await ctx.latest_time("cdn")
    image_id = await upload(ctx, ctx.scenario.image_user_id)
    image = await image_outcome(ctx, image_id)
    check_fields(
        ctx,
        image,
        {"status": "ready", "width": IMAGE_SIZE[0], "height": IMAGE_SIZE[1]},
    )
    thumbnail = urlsplit(str(image.get("thumbnail_url"))).path
    ctx.must(
        "thumbnail_url points at /demo/cdn/...",
        thumbnail.startswith("/demo/cdn/"),
        image,
    )
    response = await ctx.call(
        "GET",
        "/demo/cdn/{path:path}",
        path_params={"path": thumbnail.removeprefix("/demo/cdn/")},
    )
    ctx.expect_status(response, 200, "the thumbnail opens (GET /demo/cdn/... → 200)")
    try:
        size = Image.open(io.BytesIO(response.content)).size
    except OSError as error:
        size = (0, 0)
        ctx.note(f"not an image: {type(error).__name__}")
    ctx.check(
        f"it is a {THUMBNAIL_SIZE[0]}x{THUMBNAIL_SIZE[1]} image (300x300 box, aspect kept)",
        size == THUMBNAIL_SIZE,
        size,
    )
    found = await wait_for_tasks(ctx, IMAGE_TASKS, since)
    check_modes(ctx, found, IMAGE_TASKS)
    puts = [
        call
        for call in newer(await ctx.calls_to("cdn"), "at", cdn_since)
        if f"/{image_id}/" in call["url"]
    ]
    ctx.check(
        "three files went to the CDN (original, optimized, thumbnail)",
        len(puts) == 3 and all(call["status"] in (200, 201) for call in puts),
        [(call["method"], call["status"]) for call in puts],
    )


@step(
    "CDN down → the image is 'failed'",
    "PUT /demo/faults",
    "POST /upload-image",
    "GET /images/{image_id}",
)
async def image_failed(ctx: StepContext) -> None:
    await set_fault(ctx, "cdn", "down")
    try:
        image_id = await upload(ctx, ctx.scenario.image_user_id)
        image = await image_outcome(ctx, image_id)
        ctx.check(
            "status is 'failed', with an error that names the CDN's 503",
            image["status"] == "failed" and "503" in str(image.get("error")),
            {key: image.get(key) for key in ("status", "error")},
        )
        ctx.check(
            "no URLs for a failed image",
            image.get("thumbnail_url") is None and image.get("original_url") is None,
            image,
        )
    finally:
        await set_fault(ctx, "cdn", "ok")


async def track(ctx: StepContext, user_id: int, count: int, event: str) -> None:
    statuses = []
    for number in range(1, count + 1):
        response = await ctx.call(
            "POST",
            "/track",
            json_body={
                "event": event,
                "user_id": user_id,
                "properties": {"page": f"/tutorial/{number}"},
            },
        )
        statuses.append((response.status_code, response.json()))
    ctx.must(
        f'{count} x POST /track → 202 {{"status": "tracked"}}',
        all(entry == (202, {"status": "tracked"}) for entry in statuses),
        statuses,
    )


def batches_of(calls: list[dict[str, Any]], user_id: int) -> list[dict[str, Any]]:
    return [
        call
        for call in calls
        if isinstance(call["body"], dict)
        and any(e.get("user_id") == user_id for e in call["body"].get("events", []))
    ]


@step(
    "10 events → one batch to the analytics service", "POST /track", "GET /demo/calls"
)
async def analytics_batch(ctx: StepContext) -> None:
    user_id = ctx.scenario.analytics_user_id
    ctx.note(f"user_id = {user_id} (random, so earlier runs do not interfere)")
    await track(ctx, user_id, 10, "page_view")

    async def delivered() -> list[dict[str, Any]]:
        return batches_of(await ctx.calls_to("analytics"), user_id)

    batches = await ctx.poll(
        "a batch with this user's events reaches the analytics service",
        delivered,
        bool,
        deadline_s=ANALYTICS_DEADLINE_S,
    )
    events = batches[0]["body"]["events"]
    ctx.check(
        "exactly one batch (one POST), carrying all 10 events",
        len(batches) == 1 and len(events) == 10,
        [len(batch["body"]["events"]) for batch in batches],
    )
    ctx.check(
        "each event has event, user_id, properties, timestamp",
        all(
            {"event", "user_id", "properties", "timestamp"} <= e.keys() for e in events
        ),
        events[:1],
    )


@step(
    "Analytics outage → events land in /analytics/events",
    "PUT /demo/faults",
    "POST /track",
    "GET /analytics/events",
    "GET /demo/calls",
)
async def analytics_outage(ctx: StepContext) -> None:
    user_id = ctx.scenario.outage_user_id
    await set_fault(ctx, "analytics", "down")
    try:
        ctx.note(f"user_id = {user_id} (random)")
        await track(ctx, user_id, 3, "checkout_started")

        async def stored() -> list[dict[str, Any]]:
            events: list[dict[str, Any]] = await ctx.get_json(
                "/analytics/events", params={"user_id": user_id}
            )
            return events

        events = await ctx.poll(
            "the 3 events appear in GET /analytics/events (after the flush interval)",
            stored,
            lambda events: len(events) >= 3,
            deadline_s=ANALYTICS_DEADLINE_S,
        )
        ctx.check(
            "exactly those 3 events, in the batch shape",
            len(events) == 3
            and all(e["user_id"] == user_id for e in events)
            and all(
                {"event", "user_id", "properties", "timestamp"} <= e.keys()
                for e in events
            ),
            events,
        )
        refused = batches_of(await ctx.calls_to("analytics"), user_id)
        ctx.check(
            "the analytics service refused the batch (503 in /demo/calls)",
            bool(refused) and all(call["status"] == 503 for call in refused),
            [call["status"] for call in refused],
        )
    finally:
        await set_fault(ctx, "analytics", "ok")


@step("Reset the fault switches", "PUT /demo/faults")
async def reset(ctx: StepContext) -> None:
    response = await ctx.call("PUT", "/demo/faults", json_body=dict(ALL_OK))
    ctx.expect_status(response, 200)
    ctx.check(
        "every fake system is 'ok' again",
        response.json() == dict(ALL_OK),
        response.json(),
    )
