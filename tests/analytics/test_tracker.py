"""EventTracker with fake outlets: batching, timed flush, fallback, alert, cap, stop.

Time never passes by itself here: a manual clock plus direct calls to the flusher's tick
(``flush_due``). Every test ends by checking sent = delivered + stored + lost.
"""

import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from app.analytics.tracking import EventTracker, TrackerOverloadedError
from tests.polling import within

from .fakes import (
    FakeAlerts,
    FakeService,
    FakeStore,
    ManualClock,
    SteppingWallClock,
)

pytestmark = pytest.mark.anyio

INTERVAL = 5.0


def make_tracker(
    clock: ManualClock,
    service: FakeService,
    store: FakeStore,
    alerts: FakeAlerts,
    **overrides: Any,
) -> EventTracker:
    options: dict[str, Any] = {
        "batch_size": 10,
        "flush_interval_s": INTERVAL,
        "capacity": 10_000,
        "room_wait_s": 5.0,
        "shutdown_timeout_s": 5.0,
    }
    options.update(overrides)
    return EventTracker(
        send_batch=service.send,
        store_batch=store.store,
        alert=alerts.send,
        clock=clock,
        now=SteppingWallClock(),
        **options,
    )


@pytest.fixture
async def tracker(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> AsyncIterator[EventTracker]:
    tracker = make_tracker(clock, service, store, alerts)
    await tracker.start()
    try:
        yield tracker
    finally:
        await within(tracker.stop())


def assert_balanced(tracker: EventTracker, *, db_works: bool = True) -> None:
    stats = tracker.stats()
    assert stats.sent == (
        stats.delivered + stats.stored + stats.lost + stats.buffered + stats.in_flight
    )
    if db_works:
        assert stats.lost == 0


def key(event: dict[str, Any]) -> tuple[str, int, str, str]:
    return (
        event["event"],
        event["user_id"],
        repr(event["properties"]),
        event["timestamp"],
    )


async def test_25_events_of_one_user_make_batches_of_10_10_and_a_timed_5(
    tracker: EventTracker, clock: ManualClock, service: FakeService, store: FakeStore
) -> None:
    for i in range(25):
        await tracker.track(event="click", user_id=7, properties={"n": i})
    await within(tracker.wait_settled())
    assert [len(batch) for batch in service.calls] == [10, 10]
    assert tracker.buffered_for(7) == 5

    clock.advance(INTERVAL - 0.001)
    assert tracker.flush_due() == 0
    clock.advance(0.001)
    assert tracker.flush_due() == 1
    await within(tracker.wait_settled())

    assert [len(batch) for batch in service.calls] == [10, 10, 5]
    assert [e["properties"]["n"] for e in service.events] == list(range(25))
    assert {e["user_id"] for e in service.events} == {7}
    assert store.calls == []
    stats = tracker.stats()
    assert (stats.sent, stats.delivered, stats.buffered, stats.in_flight) == (
        25,
        25,
        0,
        0,
    )
    assert (stats.batches_delivered, stats.batches_stored) == (3, 0)
    assert_balanced(tracker)


async def test_batch_payload_has_the_contract_shape_and_utc_timestamps(
    tracker: EventTracker, service: FakeService
) -> None:
    await tracker.track(event="signup", user_id=3, properties={"plan": "pro"})
    await within(tracker.flush())
    [[event]] = service.calls
    assert event == {
        "event": "signup",
        "user_id": 3,
        "properties": {"plan": "pro"},
        "timestamp": "2025-01-31T12:00:00.000000Z",
    }


async def test_interleaved_users_under_concurrency_lose_and_duplicate_nothing(
    tracker: EventTracker, clock: ManualClock, service: FakeService
) -> None:
    rng = random.Random(5)
    planned = [(user, n) for user in range(1, 31) for n in range(rng.randint(1, 37))]
    rng.shuffle(planned)

    async def producer(share: list[tuple[int, int]]) -> None:
        for user, n in share:
            await tracker.track(event="view", user_id=user, properties={"n": n})
            await anyio.lowlevel.checkpoint()  # let the other producers interleave

    async with anyio.create_task_group() as tg:
        for worker in range(8):
            tg.start_soon(producer, planned[worker::8])
            if worker == 4:
                clock.advance(INTERVAL)
                tracker.flush_due()  # a timed flush in the middle of the burst

    clock.advance(INTERVAL)
    tracker.flush_due()
    await within(tracker.wait_settled())

    sent = Counter((e["user_id"], e["properties"]["n"]) for e in service.events)
    assert sent == Counter(planned)  # multiset equality: nothing lost, nothing twice
    assert len({key(e) for e in service.events}) == len(planned)
    for batch in service.calls:
        assert 1 <= len(batch) <= 10
        assert len({e["user_id"] for e in batch}) == 1
    for batch in service.calls:  # a batch keeps its user's order (batches may overlap)
        stamps = [e["timestamp"] for e in batch]
        assert stamps == sorted(stamps)
    assert tracker.stats().delivered == len(planned)
    assert_balanced(tracker)


async def test_analytics_outage_puts_every_batch_in_the_database(
    tracker: EventTracker, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    service.failing = True
    for i in range(23):
        await tracker.track(event="view", user_id=1 + i % 2, properties={"n": i})
    await within(tracker.flush())
    assert service.calls == []
    assert sorted(len(batch) for batch in store.calls) == [1, 2, 10, 10]
    assert sorted(e["properties"]["n"] for e in store.events) == list(range(23))
    assert alerts.calls == []
    stats = tracker.stats()
    assert (stats.sent, stats.stored, stats.delivered, stats.lost) == (23, 23, 0, 0)
    assert stats.batches_stored == 4
    assert_balanced(tracker)


async def test_analytics_and_database_down_sends_one_alert_with_the_count(
    tracker: EventTracker, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    service.failing = True
    store.failing = True
    for i in range(7):
        await tracker.track(event="view", user_id=42, properties={"n": i})
    await within(tracker.flush())
    assert len(alerts.calls) == 1
    assert "lost 7 events of user 42" in alerts.calls[0]
    assert "ConnectionError" in alerts.calls[0]
    stats = tracker.stats()
    assert (stats.sent, stats.lost, stats.batches_lost) == (7, 7, 1)
    assert_balanced(tracker, db_works=False)


async def test_a_failing_alert_still_counts_the_loss(
    tracker: EventTracker, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    service.failing = store.failing = alerts.failing = True
    for i in range(3):
        await tracker.track(event="view", user_id=1, properties={"n": i})
    await within(tracker.flush())
    assert alerts.entered == 1
    assert tracker.stats().lost == 3
    assert_balanced(tracker, db_works=False)


async def test_enqueue_refuses_when_the_cap_is_reached_and_recovers_after_settling(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts, batch_size=5, capacity=12)
    await tracker.start()
    try:
        service.hold()  # deliveries hang: memory cannot drain
        for i in range(12):
            tracker.enqueue(event="view", user_id=1 + i % 3, properties={"n": i})
        stats = tracker.stats()
        assert stats.buffered + stats.in_flight == 12
        assert stats.in_flight > 0  # pressure flushed the largest buffers early
        with pytest.raises(TrackerOverloadedError, match="12 events held"):
            tracker.enqueue(event="view", user_id=9, properties={})
        assert tracker.stats().rejected == 1

        service.release()
        await within(tracker.wait_settled())
        tracker.enqueue(event="view", user_id=9, properties={"n": 12})
        await within(tracker.flush())
        assert sorted(e["properties"].get("n") for e in service.events) == list(
            range(13)
        )
        stats = tracker.stats()
        assert (stats.sent, stats.delivered, stats.rejected) == (13, 13, 1)
        assert_balanced(tracker)
    finally:
        await within(tracker.stop())


async def test_track_waits_for_room_instead_of_dropping(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts, batch_size=2, capacity=4)
    await tracker.start()
    try:
        service.hold()
        for i in range(4):
            await tracker.track(event="view", user_id=1, properties={"n": i})
        assert tracker.stats().in_flight == 4
        done = anyio.Event()

        async def late() -> None:
            await tracker.track(event="view", user_id=1, properties={"n": 4})
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(late)
            await within(anyio.wait_all_tasks_blocked())
            assert not done.is_set()  # waiting for room, not dropped
            service.release()
        await within(tracker.flush())
        assert sorted(e["properties"]["n"] for e in service.events) == list(range(5))
        assert tracker.stats().rejected == 0
        assert_balanced(tracker)
    finally:
        await within(tracker.stop())


async def test_track_gives_up_after_room_wait_and_counts_a_rejection(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(
        clock, service, store, alerts, batch_size=2, capacity=2, room_wait_s=0.01
    )
    await tracker.start()
    try:
        service.hold()
        await tracker.track(event="view", user_id=1, properties={})
        await tracker.track(event="view", user_id=1, properties={})
        await tracker.track(event="view", user_id=1, properties={})  # no room, ever
        stats = tracker.stats()
        assert (stats.sent, stats.rejected, stats.in_flight) == (2, 1, 2)
        service.release()
        await within(tracker.wait_settled())
        assert_balanced(tracker)
    finally:
        await within(tracker.stop())


async def test_stop_flushes_partly_filled_buffers_of_every_user(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts)
    await tracker.start()
    for user in (1, 2, 3):
        for i in range(user * 3):
            await tracker.track(event="view", user_id=user, properties={"n": i})
    service.failing = True  # some go to the database: both count as not lost
    await tracker.track(event="view", user_id=4, properties={})
    service.failing = False
    assert tracker.stats().buffered == 19
    await within(tracker.stop())
    stats = tracker.stats()
    assert (stats.sent, stats.buffered, stats.in_flight, stats.lost) == (19, 0, 0, 0)
    assert len(service.events) + len(store.events) == 19
    assert_balanced(tracker)


async def test_stop_is_shielded_from_cancellation(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts)
    await tracker.start()
    for i in range(4):
        await tracker.track(event="view", user_id=1, properties={"n": i})
    service.hold()
    with anyio.CancelScope() as outer:
        async with anyio.create_task_group() as tg:
            tg.start_soon(tracker.stop)
            await within(
                anyio.wait_all_tasks_blocked()
            )  # stop() waits on the hung delivery
            outer.cancel()  # the lifespan is cancelled under it...
            service.release()
    assert outer.cancelled_caught
    assert len(service.events) == 4  # ...and the flush still completed
    assert tracker.stats().delivered == 4
    assert_balanced(tracker)


async def test_stop_gives_up_on_hung_deliveries_after_the_timeout_and_counts_them(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts, shutdown_timeout_s=0.01)
    await tracker.start()
    for i in range(3):
        await tracker.track(event="view", user_id=1, properties={"n": i})
    service.hold()  # never released: the analytics call hangs
    await within(tracker.stop())
    stats = tracker.stats()
    assert (stats.sent, stats.lost, stats.in_flight) == (3, 3, 0)
    assert_balanced(tracker, db_works=False)


async def test_enqueue_before_start_or_after_stop_is_refused(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts)
    with pytest.raises(TrackerOverloadedError, match="not running"):
        tracker.enqueue(event="view", user_id=1, properties={})
    await tracker.start()
    await within(tracker.stop())
    with pytest.raises(TrackerOverloadedError, match="not running"):
        tracker.enqueue(event="view", user_id=1, properties={})


async def test_track_after_stop_still_delivers_the_event_alone(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = make_tracker(clock, service, store, alerts)
    await tracker.start()
    await within(tracker.stop())
    await tracker.track(event="late", user_id=1, properties={})
    assert [[e["event"] for e in batch] for batch in service.calls] == [["late"]]
    assert_balanced(tracker)


async def test_the_flusher_task_flushes_by_age_without_being_asked(
    service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    tracker = EventTracker(
        send_batch=service.send,
        store_batch=store.store,
        alert=alerts.send,
        batch_size=10,
        flush_interval_s=0.05,
        capacity=100,
    )
    await tracker.start()
    try:
        await tracker.track(event="view", user_id=1, properties={})
        await tracker.track(event="view", user_id=2, properties={})
        # nobody called flush_due: the flusher did
        await within(service.wait_for_calls(2))
        assert sorted(batch[0]["user_id"] for batch in service.calls) == [1, 2]
        await tracker.track(
            event="view", user_id=3, properties={}
        )  # flusher woke again
        await within(service.wait_for_calls(3))
        await within(tracker.wait_settled())
        assert_balanced(tracker)
    finally:
        await within(tracker.stop())


async def test_track_never_raises_and_refuses_what_could_never_be_sent(
    tracker: EventTracker, service: FakeService, store: FakeStore
) -> None:
    await tracker.track(event="a", user_id=1, properties={"x": object()})
    await tracker.track(event="b", user_id=1, properties={"x": [float("nan")]})
    await within(tracker.flush())
    stats = tracker.stats()
    assert (stats.sent, stats.rejected) == (0, 2)
    assert service.calls == store.calls == []
    assert_balanced(tracker)


async def test_a_scheduler_that_refuses_does_not_strand_the_batch(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    scheduled: list[int] = []

    def refusing(deliver: Any, batch: Any) -> None:
        scheduled.append(len(batch))
        raise RuntimeError("no event loop bound yet")

    tracker = make_tracker(
        clock, service, store, alerts, schedule=refusing, batch_size=2
    )
    await tracker.start()
    try:
        for i in range(2):
            await tracker.track(event="view", user_id=1, properties={"n": i})
        await within(tracker.wait_settled())
        assert scheduled == [2]
        assert [len(batch) for batch in service.calls] == [2]
        assert_balanced(tracker)
    finally:
        await within(tracker.stop())


async def test_deliveries_go_through_the_given_scheduler_until_stop(
    clock: ManualClock, service: FakeService, store: FakeStore, alerts: FakeAlerts
) -> None:
    reasons: list[str] = []

    async def run_later(deliver: Any, batch: Any) -> None:
        await deliver(batch)

    def via_library(deliver: Any, batch: Any) -> None:
        reasons.append(batch.reason)
        tg.start_soon(run_later, deliver, batch)

    tracker = make_tracker(
        clock, service, store, alerts, schedule=via_library, batch_size=2
    )
    async with anyio.create_task_group() as tg:
        await tracker.start()
        for i in range(5):
            await tracker.track(event="view", user_id=1, properties={"n": i})
        # the drain does not use the scheduler (it may be closed)
        await within(tracker.stop())
    assert reasons == ["size", "size"]
    assert [len(batch) for batch in service.calls] == [2, 2, 1]
    assert_balanced(tracker)


async def test_logs_never_carry_event_properties(
    tracker: EventTracker,
    service: FakeService,
    store: FakeStore,
    alerts: FakeAlerts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    secret = "s3cret-card-4242"
    service.failing = store.failing = alerts.failing = True
    await tracker.track(event="pay", user_id=5, properties={"card": secret})
    await tracker.track(event="bad", user_id=5, properties={"card": [secret, object()]})
    await within(tracker.flush())
    assert tracker.stats().lost == 1
    assert "analytics batch lost (user 5, 1 events)" in caplog.text
    assert secret not in caplog.text
    assert alerts.entered == 1
