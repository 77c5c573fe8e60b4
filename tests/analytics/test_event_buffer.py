"""EventBuffer: size, age, pressure and drain flushes; the memory cap; exact bookkeeping."""

import pytest

from app.analytics.event_buffer import Batch, BufferFullError, EventBuffer

from .fakes import ManualClock


def make_buffer(
    clock: ManualClock,
    *,
    batch_size: int = 10,
    max_age_s: float = 5.0,
    capacity: int = 1000,
) -> EventBuffer[str]:
    return EventBuffer(
        batch_size=batch_size, max_age_s=max_age_s, capacity=capacity, clock=clock
    )


def sizes(batches: list[Batch[str]]) -> list[int]:
    return [len(batch) for batch in batches]


def test_full_buffer_comes_out_as_one_batch_in_order() -> None:
    buffer = make_buffer(ManualClock())
    out: list[Batch[str]] = []
    for i in range(25):
        out += buffer.add(7, f"e{i}")
    assert sizes(out) == [10, 10]
    assert [b.reason for b in out] == ["size", "size"]
    assert out[0].items == tuple(f"e{i}" for i in range(10))
    assert out[1].items == tuple(f"e{i}" for i in range(10, 20))
    assert (buffer.buffered, buffer.in_flight) == (5, 20)


def test_age_flush_takes_only_users_whose_oldest_event_is_due() -> None:
    clock = ManualClock()
    buffer = make_buffer(clock, max_age_s=5.0)
    buffer.add(1, "a1")
    clock.advance(3)
    buffer.add(2, "b1")
    buffer.add(1, "a2")  # a later event does not reset user 1's age
    clock.advance(1.9)
    assert buffer.take_due() == []
    assert buffer.next_due_in() == pytest.approx(0.1)
    clock.advance(0.1)
    due = buffer.take_due()
    assert [(b.user_id, b.items, b.reason) for b in due] == [(1, ("a1", "a2"), "age")]
    assert buffer.next_due_in() == pytest.approx(3.0)
    clock.advance(3)
    assert [(b.user_id, b.items) for b in buffer.take_due()] == [(2, ("b1",))]
    assert buffer.next_due_in() is None


def test_age_restarts_with_the_first_event_after_a_flush() -> None:
    clock = ManualClock()
    buffer = make_buffer(clock, batch_size=2)
    buffer.add(1, "a")
    clock.advance(4)
    assert sizes(buffer.add(1, "b")) == [2]
    buffer.add(1, "c")
    clock.advance(4.9)
    assert buffer.take_due() == []
    clock.advance(0.1)
    assert sizes(buffer.take_due()) == [1]


def test_drain_returns_every_buffered_event_one_batch_per_user() -> None:
    buffer = make_buffer(ManualClock())
    for i in range(7):
        buffer.add(i % 3, f"e{i}")
    drained = buffer.drain()
    assert {b.user_id: b.items for b in drained} == {
        0: ("e0", "e3", "e6"),
        1: ("e1", "e4"),
        2: ("e2", "e5"),
    }
    assert {b.reason for b in drained} == {"drain"}
    assert (buffer.buffered, buffer.in_flight) == (0, 7)
    assert buffer.drain() == []


def test_settle_frees_room_and_refuses_to_go_negative() -> None:
    buffer = make_buffer(ManualClock(), batch_size=2)
    [batch] = buffer.add(1, "a") + buffer.add(1, "b")
    assert buffer.in_flight == 2
    buffer.settle(batch)
    assert buffer.in_flight == 0
    with pytest.raises(ValueError, match="more events than are in flight"):
        buffer.settle(batch)


def test_pressure_flushes_the_largest_buffer_early() -> None:
    clock = ManualClock()
    buffer = make_buffer(clock, batch_size=10, capacity=12)  # pressure at 6 buffered
    assert buffer.pressure_threshold == 6
    buffer.add(1, "a1")
    clock.advance(1)
    buffer.add(2, "b1")
    buffer.add(2, "b2")
    buffer.add(3, "c1")
    buffer.add(3, "c2")
    out = buffer.add(1, "a2")  # 6 buffered; users 1, 2, 3 hold 2 each: user 1 is oldest
    assert [(b.user_id, b.items, b.reason) for b in out] == [
        (1, ("a1", "a2"), "pressure")
    ]
    assert (buffer.buffered, buffer.in_flight) == (4, 2)
    out = buffer.add(4, "d1")
    assert out == []
    out = buffer.add(2, "b3")  # 6 buffered again: user 2 has the most
    assert [(b.user_id, len(b)) for b in out] == [(2, 3)]


def test_cap_counts_in_flight_events_and_refuses_beyond_it() -> None:
    buffer = make_buffer(ManualClock(), batch_size=3, capacity=8)
    batches: list[Batch[str]] = []
    for i in range(8):
        batches += buffer.add(i % 2, f"e{i}")
    assert buffer.held == 8
    with pytest.raises(BufferFullError, match="8 events held in memory"):
        buffer.add(0, "one too many")
    assert buffer.held == 8
    assert not buffer.has_room
    assert sum(sizes(batches)) == buffer.in_flight
    assert buffer.buffered + buffer.in_flight == 8
    buffer.settle(batches[0])
    assert buffer.held == 8 - len(batches[0])
    assert buffer.has_room
    buffer.add(5, "again")
    assert buffer.held == 9 - len(batches[0])


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"capacity": 0}, {"max_age_s": 0}]
)
def test_rejects_nonsense_limits(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"batch_size": 10, "max_age_s": 5.0, "capacity": 100}
    args.update(kwargs)
    with pytest.raises(ValueError, match="must be"):
        EventBuffer(
            batch_size=int(args["batch_size"]),
            max_age_s=args["max_age_s"],
            capacity=int(args["capacity"]),
            clock=ManualClock(),
        )
