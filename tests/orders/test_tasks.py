"""Order task functions and handlers, called directly with real clients over the fakes."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import httpx
import pytest
from pydantic import SecretStr

from app.clients._base import RETRYABLE, RequestRejectedError
from app.clients.alerts import AlertClient
from app.clients.email_service import EmailServiceClient
from app.clients.payment_gateway import PaymentDeclinedError, PaymentGatewayClient
from app.clients.warehouse import WarehouseClient
from app.config import Settings
from app.db import SessionFactory, make_engine, make_session_factory
from app.mocks import FakeServices, build_router
from app.orders import service, tasks
from app.orders.models import OrderStatus, Product
from app.orders.schemas import OrderCreate, OrderLineIn
from app.orders.task_error_handlers import (
    on_payment_failed,
    on_settlement_failed,
    payment_failure_reason,
)
from app.seed import seed_catalogue
from fastapi_tasks import Task
from tests.orders.helpers import DESK_MAT

pytestmark = pytest.mark.anyio


@dataclass
class World:
    sessions: SessionFactory
    fakes: FakeServices
    payments: PaymentGatewayClient
    email: EmailServiceClient
    warehouse: WarehouseClient
    alerts: AlertClient


class Done:
    """Stands in for a finished ``Task`` (what settle and the handlers read of one)."""

    name = "orders.test"
    attempts = 1

    async def wait(self) -> None:
        return None


DONE = cast(Task, Done())


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    await seed_catalogue(sessions)
    fakes = FakeServices()
    transport = httpx.MockTransport(build_router(fakes, settings).async_handler)
    async with httpx.AsyncClient(transport=transport) as http:
        yield World(
            sessions=sessions,
            fakes=fakes,
            payments=PaymentGatewayClient(http, settings.payment_gateway),
            email=EmailServiceClient(http, settings.email_service),
            warehouse=WarehouseClient(http, settings.warehouse),
            alerts=AlertClient(http, settings.alerts),
        )
    await engine.dispose()


async def new_order(world: World, quantity: int = 2) -> int:
    body = OrderCreate(
        user_id=1,
        email="ada@example.com",
        items=[
            OrderLineIn(product_id=DESK_MAT, quantity=quantity, price=Decimal("19.99"))
        ],
        payment_token=SecretStr("tok_visa"),
    )
    async with world.sessions() as session:
        return (await service.create_order(session, body)).id


async def order_state(world: World, order_id: int) -> tuple[str, str, str]:
    async with world.sessions() as session:
        order = await service.get_order(session, order_id)
    return order.status, order.payment_status, order.inventory_status


async def charge(world: World, order_id: int, token: str = "tok_visa") -> str:
    return await tasks.charge_payment(
        order_id=order_id,
        amount=Decimal("39.98"),
        payment_token=SecretStr(token),
        payments=world.payments,
        sessions=world.sessions,
    )


async def settle(world: World, order_id: int) -> OrderStatus:
    return await tasks.settle_order(
        order_id=order_id,
        payment=DONE,
        reservation=DONE,
        sessions=world.sessions,
        payments=world.payments,
        alerts=world.alerts,
    )


async def test_charge_is_idempotent_by_order_id(world: World) -> None:
    order_id = await new_order(world)

    first = await charge(world, order_id)
    second = await charge(world, order_id)

    assert first == second
    assert [c.status for c in world.fakes.calls_to("payment")] == [200, 200]
    assert len(world.fakes.charges) == 1


async def test_settle_confirms_when_paid_and_reserved(world: World) -> None:
    order_id = await new_order(world)
    await charge(world, order_id)
    await tasks.reserve_stock(order_id=order_id, sessions=world.sessions)

    assert await settle(world, order_id) == OrderStatus.CONFIRMED
    assert await order_state(world, order_id) == ("confirmed", "succeeded", "reserved")


async def test_settle_releases_stock_when_payment_failed(world: World) -> None:
    order_id = await new_order(world)
    await tasks.reserve_stock(order_id=order_id, sessions=world.sessions)
    with pytest.raises(PaymentDeclinedError) as declined:
        await charge(world, order_id, token="tok_declined")
    await on_payment_failed(
        cast(Task, Done()),
        declined.value,
        order_id=order_id,
        sessions=world.sessions,
        alerts=world.alerts,
    )

    assert await settle(world, order_id) == OrderStatus.PAYMENT_FAILED
    assert await order_state(world, order_id) == (
        "payment_failed",
        "failed",
        "released",
    )
    async with world.sessions() as session:
        desk_mat = await session.get(Product, DESK_MAT)
    assert desk_mat is not None
    assert desk_mat.reserved == 0


async def test_settle_refunds_when_inventory_failed(world: World) -> None:
    order_id = await new_order(world, quantity=13)  # more than the 12 in stock
    await charge(world, order_id)
    async with world.sessions() as session:
        await service.mark_inventory_failed(session, order_id, reason="out of stock")

    assert await settle(world, order_id) == OrderStatus.INVENTORY_FAILED
    assert await order_state(world, order_id) == (
        "inventory_failed",
        "refunded",
        "failed",
    )
    refund = world.fakes.calls_to("payment")[-1]
    assert refund.url.endswith("/refund")
    assert refund.body["charge_id"] == "ch_1"


async def test_settle_treats_an_unreported_payment_as_failed(world: World) -> None:
    order_id = await new_order(world)  # the charge task was cancelled before reporting

    assert await settle(world, order_id) == OrderStatus.PAYMENT_FAILED
    # Neither half ran: the settled order says so instead of staying "pending".
    assert await order_state(world, order_id) == ("payment_failed", "failed", "failed")


async def test_a_settlement_that_crashes_alerts_a_human(world: World) -> None:
    order_id = await new_order(world)

    await on_settlement_failed(
        cast(Task, Done()),
        RuntimeError("database is locked"),
        order_id=order_id,
        alerts=world.alerts,
    )

    [alert] = world.fakes.calls_to("alerts")
    assert f"Order {order_id} could not be settled (RuntimeError)" in alert.body["text"]


async def test_payment_handler_never_raises_even_when_alerts_are_down(
    world: World,
) -> None:
    world.fakes.faults.alerts = "down"
    order_id = await new_order(world)

    await on_payment_failed(
        cast(Task, Done()),
        PaymentDeclinedError(order_id, "card_declined"),
        order_id=order_id,
        sessions=world.sessions,
        alerts=world.alerts,
    )

    assert (await order_state(world, order_id))[1] == "failed"
    assert [c.status for c in world.fakes.calls_to("alerts")] == [503]


async def test_send_order_email_sends_once(world: World) -> None:
    order_id = await new_order(world)
    async with world.sessions() as session:
        await service.set_final_status(session, order_id, OrderStatus.CONFIRMED)

    for _ in range(2):
        await tasks.send_order_email(
            order_id=order_id,
            settlement=DONE,
            sessions=world.sessions,
            email=world.email,
        )

    assert [mail["subject"] for mail in world.fakes.outbox] == [
        f"Order #{order_id} confirmed"
    ]


async def test_send_order_email_skips_an_unsettled_order(world: World) -> None:
    order_id = await new_order(world)

    await tasks.send_order_email(
        order_id=order_id, settlement=DONE, sessions=world.sessions, email=world.email
    )

    assert list(world.fakes.outbox) == []


async def test_warehouse_hears_only_of_confirmed_orders(world: World) -> None:
    failed = await new_order(world)
    confirmed = await new_order(world)
    async with world.sessions() as session:
        await service.set_final_status(session, failed, OrderStatus.PAYMENT_FAILED)
        await service.set_final_status(session, confirmed, OrderStatus.CONFIRMED)

    for order_id in (failed, confirmed):
        await tasks.notify_warehouse(
            order_id=order_id,
            settlement=DONE,
            sessions=world.sessions,
            warehouse=world.warehouse,
        )

    assert [call.body["order_id"] for call in world.fakes.calls_to("warehouse")] == [
        confirmed
    ]


def test_payment_failure_reasons_name_no_secret() -> None:
    request = httpx.Request("POST", "https://payments.mock/charge")
    response = httpx.Response(503, request=request)

    assert payment_failure_reason(PaymentDeclinedError(1, "card_declined")) == (
        "payment declined (card_declined)"
    )
    assert payment_failure_reason(httpx.ReadTimeout("slow", request=request)) == (
        "payment gateway timed out"
    )
    assert payment_failure_reason(
        httpx.HTTPStatusError("boom", request=request, response=response)
    ) == ("payment gateway error (HTTP 503)")


def refusing_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(400, json={}))
    )


async def confirmed_order(world: World) -> int:
    order_id = await new_order(world)
    async with world.sessions() as session:
        await service.set_final_status(session, order_id, OrderStatus.CONFIRMED)
    return order_id


async def test_a_refused_order_email_is_not_retried(
    world: World, settings: Settings
) -> None:
    # A 400 would come back on every attempt: the e-mail task's retry_on must not match.
    order_id = await confirmed_order(world)
    async with refusing_client() as http:
        email = EmailServiceClient(http, settings.email_service)
        with pytest.raises(RequestRejectedError) as caught:
            await tasks.send_order_email(
                order_id=order_id, settlement=DONE, sessions=world.sessions, email=email
            )

    assert not isinstance(caught.value, RETRYABLE)


async def test_a_refused_warehouse_notification_is_not_retried(
    world: World, settings: Settings
) -> None:
    order_id = await confirmed_order(world)
    async with refusing_client() as http:
        warehouse = WarehouseClient(http, settings.warehouse)
        with pytest.raises(RequestRejectedError) as caught:
            await tasks.notify_warehouse(
                order_id=order_id,
                settlement=DONE,
                sessions=world.sessions,
                warehouse=warehouse,
            )

    assert not isinstance(caught.value, RETRYABLE)


async def test_charge_and_refund_carry_their_own_idempotency_keys(
    settings: Settings,
) -> None:
    keys: list[tuple[str, str | None]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        keys.append((request.url.path, request.headers.get("idempotency-key")))
        if request.url.path == "/charge":
            return httpx.Response(
                200, json={"charge_id": "ch_9", "status": "succeeded"}
            )
        return httpx.Response(
            200, json={"refund_id": "re_9", "charge_id": "ch_9", "status": "succeeded"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(gateway)) as http:
        payments = PaymentGatewayClient(http, settings.payment_gateway)
        await payments.charge(order_id=7, amount=Decimal("1.00"), token=SecretStr("t"))
        await payments.refund(order_id=7, charge_id="ch_9", amount=Decimal("1.00"))

    assert keys == [("/charge", "7"), ("/refund", "refund-7")]
