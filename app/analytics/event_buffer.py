"""Per-user event buffers with a size threshold, an age threshold and a memory cap.

Pure bookkeeping: no I/O, no awaits, no lock. Every method runs to completion on the
event loop without yielding, so "append, check the size, take the batch out" can never
interleave with another request (the seed needed an ``asyncio.Lock`` and scheduled the
flush while holding it). The caller sends what comes out and reports back with
:meth:`EventBuffer.settle` once a batch has been delivered, stored or given up on.

Memory: ``held`` = events waiting in buffers + events checked out in batches not yet
settled. ``held`` never exceeds ``capacity``; :meth:`EventBuffer.add` refuses with
:class:`BufferFullError` instead. Before that point, once the buffers alone hold half the
capacity, the largest buffer (the oldest among equals) is flushed early, so a crowd of
users with a few events each cannot pin memory until their timers run out.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

Clock = Callable[[], float]
FlushReason = Literal["size", "age", "pressure", "drain"]


class BufferFullError(Exception):
    """The buffers and the batches in flight already hold ``capacity`` events."""


@dataclass(slots=True)
class _UserBuffer(Generic[T]):
    first_added_at: float
    items: list[T] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """Events of one user, checked out of the buffer to be sent as one call."""

    user_id: int
    items: tuple[T, ...]
    reason: FlushReason  # why it left the buffer

    def __len__(self) -> int:
        return len(self.items)


class EventBuffer(Generic[T]):
    """Buffers items per user and hands them out as batches.

    - ``add`` returns the user's batch when the buffer reaches ``batch_size``;
    - ``take_due`` returns the buffers whose oldest item is ``max_age_s`` old or older;
    - ``drain`` returns everything (shutdown).
    """

    def __init__(
        self,
        *,
        batch_size: int,
        max_age_s: float,
        capacity: int,
        clock: Clock,
    ) -> None:
        if batch_size < 1 or capacity < 1 or max_age_s <= 0:
            raise ValueError("batch_size and capacity must be >= 1, max_age_s > 0")
        self.batch_size = batch_size
        self.max_age_s = max_age_s
        self.capacity = capacity
        # Above this many buffered (not yet checked out) events, flush early.
        self.pressure_threshold = max(1, capacity // 2)
        self._clock = clock
        self._buffers: dict[int, _UserBuffer[T]] = {}
        self._buffered = 0
        self._in_flight = 0

    @property
    def buffered(self) -> int:
        """Events waiting in per-user buffers."""
        return self._buffered

    @property
    def in_flight(self) -> int:
        """Events checked out in batches that were not settled yet."""
        return self._in_flight

    @property
    def held(self) -> int:
        """Everything in memory: buffered + in flight (never above ``capacity``)."""
        return self._buffered + self._in_flight

    @property
    def has_room(self) -> bool:
        """Whether :meth:`add` would accept one more event."""
        return self.held < self.capacity

    def buffered_for(self, user_id: int) -> int:
        """Events waiting for one user."""
        buffer = self._buffers.get(user_id)
        return len(buffer.items) if buffer else 0

    def add(self, user_id: int, item: T) -> list[Batch[T]]:
        """Buffer ``item``; return the batches that must be sent now (often none)."""
        if not self.has_room:
            raise BufferFullError(
                f"{self.held} events held in memory (capacity {self.capacity})"
            )
        buffer = self._buffers.get(user_id)
        if buffer is None:
            buffer = self._buffers[user_id] = _UserBuffer(self._clock())
        buffer.items.append(item)
        self._buffered += 1
        if len(buffer.items) >= self.batch_size:
            return [self._check_out(user_id, "size")]
        if self._buffered >= self.pressure_threshold:
            return [self._check_out(self._largest_user(), "pressure")]
        return []

    def take_due(self) -> list[Batch[T]]:
        """Batches of every user whose oldest buffered event reached ``max_age_s``."""
        now = self._clock()
        due = [
            user_id
            for user_id, buffer in self._buffers.items()
            if now - buffer.first_added_at >= self.max_age_s
        ]
        return [self._check_out(user_id, "age") for user_id in due]

    def next_due_in(self) -> float | None:
        """Seconds until the oldest buffer is due (0 if overdue); None when empty."""
        if not self._buffers:
            return None
        oldest = min(buffer.first_added_at for buffer in self._buffers.values())
        return max(0.0, oldest + self.max_age_s - self._clock())

    def drain(self) -> list[Batch[T]]:
        """Every buffered event, one batch per user (at shutdown)."""
        return [self._check_out(user_id, "drain") for user_id in list(self._buffers)]

    def settle(self, batch: Batch[T]) -> None:
        """The batch is done with (delivered, stored or lost): free its room."""
        if len(batch) > self._in_flight:
            raise ValueError("settling more events than are in flight")
        self._in_flight -= len(batch)

    def _largest_user(self) -> int:
        # Most events first; among equals the buffer that started filling first.
        return min(
            self._buffers,
            key=lambda uid: (
                -len(self._buffers[uid].items),
                self._buffers[uid].first_added_at,
            ),
        )

    def _check_out(self, user_id: int, reason: FlushReason) -> Batch[T]:
        buffer = self._buffers.pop(user_id)
        self._buffered -= len(buffer.items)
        self._in_flight += len(buffer.items)
        return Batch(user_id=user_id, items=tuple(buffer.items), reason=reason)
