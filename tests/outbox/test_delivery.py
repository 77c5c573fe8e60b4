"""The outbox: every promised side effect is delivered once, or fails loudly; never dropped."""

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.clients.email_service import EmailServiceClient
from app.config import Settings
from app.db import SessionFactory, make_engine, make_session_factory, utcnow
from app.mocks import FakeServices
from app.outbox import service
from app.outbox.delivery import Outbox
from app.outbox.models import OutboxKind, OutboxMessage, OutboxStatus
from app.outbox.service import SCRUBBED, NewMessage
from app.sweeper import Sweeper
from tests.mocks.helpers import talking_to
from tests.polling import poll

pytestmark = pytest.mark.anyio


@dataclass
class World:
    sessions: SessionFactory
    fakes: FakeServices
    outbox: Outbox


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    fakes = FakeServices()
    async with talking_to(fakes, settings) as http:
        outbox = Outbox.over(http, settings, sessions)
        assert outbox.max_attempts == 4  # the default these tests count on
        yield World(sessions=sessions, fakes=fakes, outbox=outbox)
    fakes.close()
    await engine.dispose()


def an_email(**data: str) -> NewMessage:
    return NewMessage(
        kind=OutboxKind.EMAIL,
        topic="email_verification",
        payload={
            "to": "ada@example.com",
            "subject": "Verify your email",
            "template": "email_verification",
            "data": {"name": "Ada", **data},
        },
        subject_type="user",
        subject_id=7,
    )


async def sweep(world: World, *, orphaned_before: datetime | None = None) -> int:
    sweeper = Sweeper([world.outbox.sweep_job()], interval_s=1)
    return await sweeper.sweep(orphaned_before=orphaned_before)


async def stage(world: World, message: NewMessage) -> int:
    async with world.sessions() as session:
        row = service.add(session, message)
        await session.commit()
        return row.id


async def row(world: World, message_id: int) -> OutboxMessage:
    async with world.sessions() as session:
        found = await session.get(OutboxMessage, message_id)
    assert found is not None
    return found


async def test_a_delivered_row_is_sent_once_and_its_secret_scrubbed(
    world: World,
) -> None:
    message_id = await stage(
        world, an_email(verification_url="https://x/?token=s3cr3t")
    )

    assert await world.outbox.deliver(message_id) == 1
    assert await world.outbox.deliver(message_id) == 0  # already sent: not ours

    sent = await row(world, message_id)
    assert (sent.status, sent.attempts) == (OutboxStatus.SENT, 1)
    assert sent.payload["data"]["verification_url"] == SCRUBBED
    [mail] = world.fakes.outbox
    assert mail["data"]["verification_url"] == "https://x/?token=s3cr3t"
    assert mail["idempotency_key"] == f"outbox-{message_id}"


async def test_a_repeat_after_a_crash_reaches_the_customer_once(world: World) -> None:
    message_id = await stage(world, an_email())
    # The process sent the e-mail, then died before recording it.
    async with world.sessions() as session:
        claimed = await service.claim(
            session, message_id, now=utcnow(), lease=timedelta(minutes=5)
        )
    assert claimed is not None
    await world.outbox._send(claimed)

    # The next process's startup sweep ignores the dead process's lease and sends again.
    assert await sweep(world, orphaned_before=utcnow()) == 1

    assert len(world.fakes.calls_to("email")) == 2
    assert len(world.fakes.outbox) == 1
    assert (await row(world, message_id)).status == OutboxStatus.SENT


async def test_the_startup_sweep_leaves_rows_of_the_new_process_alone(
    world: World,
) -> None:
    started_at = utcnow()
    await stage(world, an_email())

    assert await sweep(world, orphaned_before=started_at) == 0
    assert world.fakes.outbox == []


async def test_a_row_that_keeps_failing_is_marked_failed_with_one_alert(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.fakes.set_faults(email="down")
    message_id = await stage(world, an_email())

    for _ in range(4):
        with pytest.raises(httpx.HTTPStatusError):
            await world.outbox.deliver(message_id)
    assert await world.outbox.deliver(message_id) == 0

    failed = await row(world, message_id)
    assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 4)
    assert failed.last_error == "HTTPStatusError (HTTP 503)"
    assert len(world.fakes.calls_to("email")) == 4
    [alert] = world.fakes.calls_to("alerts")
    assert f"Outbox message {message_id}" in alert.body["text"]
    assert "ada@example.com" not in caplog.text


async def test_a_refusal_fails_at_once(world: World, settings: Settings) -> None:
    message_id = await stage(world, an_email())
    refusing = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(400, json={}))
    )
    async with refusing:
        outbox = Outbox(
            sessions=world.sessions,
            email=EmailServiceClient(refusing, settings.email_service),
            warehouse=world.outbox.warehouse,
            alerts=world.outbox.alerts,
        )
        with pytest.raises(Exception, match="refused"):
            await outbox.deliver(message_id)

    failed = await row(world, message_id)
    assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 1)
    assert len(world.fakes.calls_to("alerts")) == 1


async def test_an_alert_that_fails_for_good_is_logged_not_alerted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.fakes.set_faults(alerts="down")
    alert = NewMessage(
        kind=OutboxKind.ALERT,
        topic="alert",
        payload={"text": "disk full", "severity": "error", "source": "test"},
    )
    message_id = await stage(world, alert)

    with caplog.at_level(logging.CRITICAL, logger="app.outbox.delivery"):
        for _ in range(4):
            with pytest.raises(httpx.HTTPStatusError):
                await world.outbox.deliver(message_id)

    assert (await row(world, message_id)).status == OutboxStatus.FAILED
    assert len(world.fakes.calls_to("alerts")) == 4  # no alert about the alert
    assert "alert not delivered" in caplog.text


async def test_the_sweeper_leaves_fresh_and_backed_off_rows_to_their_task(
    world: World,
) -> None:
    fresh = await stage(world, an_email())
    assert await sweep(world) == 0  # its task has the hand-off window

    async with world.sessions() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == fresh)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert await sweep(world) == 1
    assert len(world.fakes.outbox) == 1


async def test_concurrent_deliveries_of_one_row_send_it_once(world: World) -> None:
    message_id = await stage(world, an_email())
    results: list[int] = []

    async def deliver() -> None:
        results.append(await world.outbox.deliver(message_id))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(deliver)

    assert sorted(results) == [0, 0, 0, 0, 1]
    assert len(world.fakes.calls_to("email")) == 1


@pytest.mark.parametrize("settings_overrides", [{"sweep_interval_s": 0.05}])
async def test_the_lifespan_sweeper_delivers_rows_whose_task_died(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    engine = make_engine(app.state.settings.database_url)
    async with make_session_factory(engine)() as session:
        orphan = service.add(session, an_email(), handoff=timedelta(0))
        await session.commit()
    await engine.dispose()

    async def delivered() -> bool:
        return bool(fakes.outbox)

    await poll(delivered)

    assert [mail["idempotency_key"] for mail in fakes.outbox] == [f"outbox-{orphan.id}"]


async def test_no_pooled_connection_is_held_while_a_delivery_is_in_flight(
    settings: Settings,
) -> None:
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    held: list[int] = []

    def email_service(request: httpx.Request) -> httpx.Response:
        held.append(engine.sync_engine.pool.checkedout())  # type: ignore[attr-defined]
        return httpx.Response(202, json={"id": "msg_1"})

    try:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(email_service)
        ) as http:
            outbox = Outbox.over(http, settings, sessions)
            async with sessions() as session:
                row = service.add(session, an_email())
                await session.commit()
            assert await outbox.deliver(row.id) == 1
    finally:
        await engine.dispose()

    assert held == [0]


async def stage_claimed(world: World, message: NewMessage) -> OutboxMessage:
    """A row born claimed, handed over in memory (as a settlement hands its rows)."""
    async with world.sessions() as session:
        born = service.add(session, message, leased_until=world.outbox.new_lease())
        await session.commit()
    return born


async def test_a_row_born_claimed_is_its_tasks_alone_and_sent_without_a_claim(
    world: World,
) -> None:
    born = await stage_claimed(world, an_email())
    # Its handoff is over: due for the sweeper, but for the lease.
    async with world.sessions() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == born.id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()

    assert await sweep(world) == 0  # the sweeper leaves a leased row alone
    assert await world.outbox.deliver(born.id) == 0  # and so does a claim by id
    assert await world.outbox.deliver(born) == 1  # the holder sends it as it is

    assert len(world.fakes.calls_to("email")) == 1
    assert (await row(world, born.id)).status == OutboxStatus.SENT


async def test_a_failed_first_attempt_gives_the_lease_up_so_a_retry_claims_again(
    world: World,
) -> None:
    born = await stage_claimed(world, an_email())
    world.fakes.set_faults(email="down")
    with pytest.raises(httpx.HTTPStatusError):
        await world.outbox.deliver(born)
    assert (await row(world, born.id)).locked_until is None
    # Someone else claims the row in between (the sweeper, after the back-off) ...
    async with world.sessions() as session:
        taken = await service.claim(
            session, born.id, now=utcnow(), lease=timedelta(minutes=5)
        )
    assert taken is not None
    world.fakes.set_faults(email="ok")

    # ... so the task's retry, with the same row in hand, must not send it too.
    assert await world.outbox.deliver(born) == 0
    assert len(world.fakes.calls_to("email")) == 1  # the failed attempt only
