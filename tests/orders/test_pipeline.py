"""The order pipeline's steps, called directly with real clients over the fakes.

The recovery path (``resume``) is the normal path's steps run again after a crash: these
tests stop an order at each point a crash can leave it and check it ends exactly once.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import anyio
import httpx
import pytest
from pydantic import SecretStr

from app.analytics.tracking import EventTracker
from app.clients.payment_gateway import PaymentGatewayClient
from app.config import Settings
from app.db import SessionFactory, make_engine, make_session_factory, utcnow
from app.mocks import FakeServices
from app.orders import service
from app.orders.exceptions import OutOfStockError
from app.orders.pipeline import OrderPipeline
from app.orders.schemas import OrderCreate, OrderLineIn
from app.outbox import service as outbox_service
from app.outbox.delivery import Outbox
from app.outbox.models import OutboxKind
from app.seed import seed_catalogue
from app.sweeper import Sweeper
from tests.mocks.helpers import talking_to
from tests.orders.helpers import DESK_MAT, SOLD_OUT

pytestmark = pytest.mark.anyio


@dataclass
class World:
    sessions: SessionFactory
    fakes: FakeServices
    payments: PaymentGatewayClient
    pipeline: OrderPipeline


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    await seed_catalogue(sessions)
    fakes = FakeServices()
    async with talking_to(fakes, settings) as http:
        payments = PaymentGatewayClient(http, settings.payment_gateway)
        outbox = Outbox.over(http, settings, sessions)
        yield World(
            sessions=sessions,
            fakes=fakes,
            payments=payments,
            pipeline=OrderPipeline(
                sessions=sessions,
                payments=payments,
                outbox=outbox,
                # The tracker is only used by schedule(), which these tests do not call.
                tracker=cast(EventTracker, None),
                retry_delay_s=0.01,
            ),
        )
    fakes.close()
    await engine.dispose()


async def new_order(
    world: World, *, product_id: int = DESK_MAT, quantity: int = 2
) -> int:
    price = Decimal("120.00") if product_id == SOLD_OUT else Decimal("19.99")
    body = OrderCreate(
        user_id=1,
        email="ada@example.com",
        items=[OrderLineIn(product_id=product_id, quantity=quantity, price=price)],
        payment_token=SecretStr("tok_visa"),
    )
    async with world.sessions() as session:
        return (await service.create_order(session, body)).id


async def state(world: World, order_id: int) -> tuple[str, str, str]:
    async with world.sessions() as session:
        order = await service.get_order(session, order_id)
    return order.status, order.payment_status, order.inventory_status


async def outbox_rows(world: World, order_id: int) -> list[tuple[str, str]]:
    async with world.sessions() as session:
        rows = await outbox_service.for_subject(
            session, subject_type="order", subject_id=order_id
        )
    return [(row.topic, row.status) for row in rows]


async def charge(world: World, order_id: int, token: str = "tok_visa") -> str:
    async with world.sessions() as session:
        total = (await service.get_order(session, order_id)).total
    return await world.pipeline.charge_payment(
        order_id=order_id, amount=total, payment_token=SecretStr(token)
    )


def emails(world: World) -> list[str]:
    return [mail["template"] for mail in world.fakes.outbox]


async def test_the_normal_path_confirms_and_promises_one_email_and_one_shipment(
    world: World,
) -> None:
    order_id = await new_order(world)

    await charge(world, order_id)
    await world.pipeline.reserve_stock(order_id=order_id)
    assert await world.pipeline.settle(order_id=order_id) == "confirmed"
    await world.pipeline.outbox.deliver_pending(
        subject_type="order", subject_id=order_id
    )

    assert await state(world, order_id) == ("confirmed", "succeeded", "reserved")
    assert await outbox_rows(world, order_id) == [
        ("order_confirmation", "sent"),
        ("shipment", "sent"),
    ]
    assert emails(world) == ["order_confirmation"]
    [shipment] = world.fakes.calls_to("warehouse")
    assert shipment.body == {
        "order_id": order_id,
        "items": [{"sku": DESK_MAT, "qty": 2}],
    }


async def test_settle_waits_while_the_payment_is_unknown(world: World) -> None:
    order_id = await new_order(world)
    await world.pipeline.reserve_stock(order_id=order_id)

    assert await world.pipeline.settle(order_id=order_id) is None
    assert await state(world, order_id) == ("processing", "pending", "reserved")
    assert await outbox_rows(world, order_id) == []


async def test_a_lost_answer_is_retried_with_the_same_key_and_charges_once(
    world: World,
) -> None:
    order_id = await new_order(world)
    world.fakes.set_faults(payment="lost_answer")
    with pytest.raises(httpx.ReadTimeout):
        await charge(world, order_id)
    assert await state(world, order_id) == ("processing", "pending", "pending")

    world.fakes.set_faults(payment="ok")
    charge_id = await charge(world, order_id)  # the task's retry

    assert list(world.fakes.charges) == [str(order_id)]
    assert world.fakes.charges[str(order_id)][1]["charge_id"] == charge_id
    assert (await state(world, order_id))[1] == "succeeded"


async def test_a_lost_answer_is_reconciled_by_asking_the_gateway(world: World) -> None:
    order_id = await new_order(world)
    world.fakes.set_faults(payment="lost_answer")
    with pytest.raises(httpx.ReadTimeout):
        await charge(world, order_id)
    world.fakes.set_faults(payment="ok")

    await world.pipeline.reconcile_payment(order_id=order_id)

    assert (await state(world, order_id))[1] == "succeeded"
    assert len(world.fakes.charges) == 1


async def test_an_unreachable_gateway_leaves_the_payment_unknown_not_failed(
    world: World,
) -> None:
    order_id = await new_order(world)
    world.fakes.set_faults(payment="timeout")

    await world.pipeline.reconcile_payment(order_id=order_id)

    assert await state(world, order_id) == ("processing", "pending", "pending")
    assert world.fakes.calls_to("alerts") == []


async def test_a_charge_the_gateway_never_saw_is_booked_failed(world: World) -> None:
    order_id = await new_order(world)

    await world.pipeline.reconcile_payment(order_id=order_id)

    status, payment, _ = await state(world, order_id)
    assert (status, payment) == ("processing", "failed")
    assert len(world.fakes.calls_to("alerts")) == 1


async def test_resume_after_a_crash_before_anything_ran(world: World) -> None:
    order_id = await new_order(world)

    assert await world.pipeline.resume(order_id=order_id) == "payment_failed"

    assert await state(world, order_id) == ("payment_failed", "failed", "released")
    assert emails(world) == ["order_payment_failed"]
    assert world.fakes.calls_to("warehouse") == []


async def test_resume_after_a_crash_between_charge_and_booking(world: World) -> None:
    order_id = await new_order(world)
    async with world.sessions() as session:
        total = (await service.get_order(session, order_id)).total
    # The card was charged, then the process died before the answer was recorded.
    await world.payments.charge(
        order_id=order_id, amount=total, token=SecretStr("tok_visa")
    )

    assert await world.pipeline.resume(order_id=order_id) == "confirmed"
    assert await world.pipeline.resume(order_id=order_id) == "confirmed"

    assert len(world.fakes.charges) == 1
    assert emails(world) == ["order_confirmation"]
    assert len(world.fakes.calls_to("warehouse")) == 1


async def test_resume_after_a_crash_after_settling_delivers_what_was_promised(
    world: World,
) -> None:
    order_id = await new_order(world)
    await charge(world, order_id)
    await world.pipeline.reserve_stock(order_id=order_id)
    await world.pipeline.settle(order_id=order_id)  # rows written, never delivered

    await Sweeper([world.pipeline.outbox.sweep_job()], interval_s=1).sweep(
        orphaned_before=utcnow()
    )
    await world.pipeline.resume(order_id=order_id)

    assert emails(world) == ["order_confirmation"]
    assert len(world.fakes.calls_to("warehouse")) == 1


async def test_out_of_stock_refunds_the_charge(world: World) -> None:
    order_id = await new_order(world, product_id=SOLD_OUT, quantity=1)
    await charge(world, order_id)
    with pytest.raises(OutOfStockError):
        await world.pipeline.reserve_stock(order_id=order_id)
    await world.pipeline.resume(order_id=order_id)

    assert await state(world, order_id) == ("inventory_failed", "refunded", "failed")
    assert [
        call.url.rsplit("/", 1)[-1] for call in world.fakes.calls_to("payment")
    ] == [
        "charge",
        "refund",
    ]
    [mail] = world.fakes.outbox
    assert mail["template"] == "order_out_of_stock"
    assert mail["data"]["refunded"] is True


async def test_a_refund_that_fails_alerts_at_once_and_hands_over_only_the_email(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = await new_order(world, product_id=SOLD_OUT, quantity=1)
    await charge(world, order_id)
    with pytest.raises(OutOfStockError):
        await world.pipeline.reserve_stock(order_id=order_id)
    await world.pipeline._book_reservation_failure(order_id, OutOfStockError(SOLD_OUT))

    async def refund_unreachable(**_: object) -> None:
        raise httpx.ConnectError("gateway unreachable")

    monkeypatch.setattr(world.pipeline.payments, "refund", refund_unreachable)
    settled = await world.pipeline.settlement(order_id=order_id, hand_over=True)

    assert settled is not None
    assert settled.status == "inventory_failed"
    # The operators hear of it now, not when the sweeper next comes round.
    [alert] = world.fakes.calls_to("alerts")
    assert "refund charge" in alert.body["text"]
    # The customer's e-mail is the one row handed to a delivery task (born claimed).
    [mail] = settled.promised(OutboxKind.EMAIL)
    assert mail.locked_until is not None
    assert mail.payload["subject"].endswith("your refund is on its way")
    [alert_row] = settled.promised(OutboxKind.ALERT)
    assert alert_row.locked_until is None  # not born claimed: nobody was handed it


async def test_a_charge_that_lands_after_the_order_was_booked_unpaid_is_refunded(
    world: World,
) -> None:
    order_id = await new_order(world)
    await world.pipeline.reconcile_payment(order_id=order_id)  # never seen: failed

    await charge(world, order_id)  # ...and then the original request arrives

    assert (await state(world, order_id))[1] == "failed"
    assert [call.url.rsplit("/", 1)[-1] for call in world.fakes.calls_to("payment")][
        -1
    ] == "refund"
    texts = [call.body["text"] for call in world.fakes.calls_to("alerts")]
    assert any("refunded" in text for text in texts)


def sweeper(world: World) -> Sweeper:
    return Sweeper([world.pipeline.sweep_job()], interval_s=1)


async def test_the_sweeper_skips_orders_that_changed_recently(world: World) -> None:
    order_id = await new_order(world)

    assert await sweeper(world).sweep() == 0
    assert (await state(world, order_id))[0] == "processing"
    assert await sweeper(world).sweep(orphaned_before=utcnow()) == 1
    assert (await state(world, order_id))[0] == "payment_failed"


async def test_the_startup_sweep_leaves_orders_of_the_new_process_alone(
    world: World,
) -> None:
    # The sweeper starts before the server serves; an order placed after that is this
    # process's own, still being charged by its task: resuming it would race the charge.
    started_at = utcnow()
    order_id = await new_order(world)

    assert await sweeper(world).sweep(orphaned_before=started_at) == 0
    assert (await state(world, order_id))[0] == "processing"


async def test_resume_after_a_crash_between_refund_and_settlement(world: World) -> None:
    order_id = await new_order(world, product_id=SOLD_OUT, quantity=1)
    await charge(world, order_id)
    async with world.sessions() as session:
        await service.mark_inventory_failed(session, order_id, reason="out of stock")
        order = await service.get_order(session, order_id)
    # The settlement refunded, then the process died before its transaction committed.
    assert await world.pipeline._refund(order.id, order.charge_id, order.total)
    assert await state(world, order_id) == ("processing", "refunded", "failed")

    assert await world.pipeline.resume(order_id=order_id) == "inventory_failed"

    assert len(world.fakes.refunds) == 1
    [mail] = world.fakes.outbox
    assert (mail["template"], mail["data"]["refunded"]) == ("order_out_of_stock", True)


async def test_concurrent_settlements_settle_once_and_promise_once(
    world: World,
) -> None:
    # The request's settlement task and the sweeper's resume may meet on one order.
    order_id = await new_order(world)
    await charge(world, order_id)
    await world.pipeline.reserve_stock(order_id=order_id)
    outcomes: list[str | None] = []

    async def settle() -> None:
        outcomes.append(await world.pipeline.settle(order_id=order_id))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(settle)

    assert outcomes == ["confirmed"] * 5
    assert await outbox_rows(world, order_id) == [
        ("order_confirmation", "pending"),
        ("shipment", "pending"),
    ]
