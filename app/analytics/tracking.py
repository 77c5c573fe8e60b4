"""The one way to track an analytics event: ``await tracker.track(...)``.

Events are buffered per user (:mod:`app.analytics.event_buffer`) and leave memory as one
batch per user: when the user's buffer is full, when its oldest event has waited
``analytics_flush_interval_s`` (a flusher task started with the app), under memory
pressure, and at shutdown (:meth:`EventTracker.stop`, shielded, called by the app's
lifespan before the HTTP client and the database engine close). Each batch is delivered
by a background task (:func:`app.analytics.tasks.deliver_batch`) that never blocks the
caller and ends in exactly one counter: delivered, stored or lost.
"""

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from fastapi import FastAPI

from app.analytics.event_buffer import Batch, BufferFullError, Clock, EventBuffer
from app.analytics.schemas import AnalyticsStats, TrackedEvent
from app.analytics.service import store_events
from app.analytics.tasks import (
    DeliveryOutcome,
    SendAlert,
    SendBatch,
    StoreBatch,
    deliver_batch,
)
from app.clients.alerts import AlertClient
from app.clients.analytics_api import AnalyticsApiClient
from app.config import Settings
from app.db import SessionFactory, utcnow
from fastapi_tasks import get_scheduler

logger = logging.getLogger("app.analytics")

FLUSH_TASK_NAME = "analytics.flush_batch"


DeliverFn = Callable[["Batch[TrackedEvent]"], Awaitable[None]]
ScheduleDelivery = Callable[[DeliverFn, "Batch[TrackedEvent]"], object]
"""Runs ``deliver(batch)`` as a background task (the app passes the task library's)."""


class TrackerOverloadedError(Exception):
    """Memory for buffered events is full (or the tracker is stopped): try again later."""


@dataclass(slots=True)
class _Counters:
    sent: int = 0
    delivered: int = 0
    stored: int = 0
    lost: int = 0
    rejected: int = 0
    batches_delivered: int = 0
    batches_stored: int = 0
    batches_lost: int = 0

    def record(self, outcome: DeliveryOutcome, count: int) -> None:
        if outcome is DeliveryOutcome.DELIVERED:
            self.delivered += count
            self.batches_delivered += 1
        elif outcome is DeliveryOutcome.STORED:
            self.stored += count
            self.batches_stored += 1
        else:
            self.lost += count
            self.batches_lost += 1


class EventTracker:
    """Buffers events per user and delivers them in batches; one per app (AppState)."""

    def __init__(
        self,
        *,
        send_batch: SendBatch,
        store_batch: StoreBatch,
        alert: SendAlert,
        batch_size: int,
        flush_interval_s: float,
        capacity: int,
        room_wait_s: float = 5.0,
        shutdown_timeout_s: float = 30.0,
        clock: Clock = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        schedule: ScheduleDelivery | None = None,
    ) -> None:
        self._send = send_batch
        self._store = store_batch
        self._alert = alert
        self._buffer: EventBuffer[TrackedEvent] = EventBuffer(
            batch_size=batch_size,
            max_age_s=flush_interval_s,
            capacity=capacity,
            clock=clock,
        )
        self._room_wait_s = room_wait_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._now = now
        self._schedule = schedule
        self._counters = _Counters()
        self._settled = anyio.Event()  # replaced each time a batch settles
        self._buffer_started = anyio.Event()  # replaced when the flusher wakes
        self._running = False
        self._closing = False
        self._flusher: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()  # strong refs until done

    # -- tracking ---------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """Started and not stopping: :meth:`enqueue` works."""
        return self._running and not self._closing

    @property
    def retry_after_s(self) -> int:
        """What a refused client should wait: about one delivery's worst case."""
        return max(1, math.ceil(self._room_wait_s))

    def enqueue(
        self, *, event: str, user_id: int, properties: Mapping[str, Any]
    ) -> TrackedEvent:
        """Buffer one event now, without waiting (the ``POST /track`` path).

        Raises :class:`TrackerOverloadedError` when memory is full or the tracker is not
        running; the caller answers 503 and the client retries.
        """
        if not self.accepting:
            self._counters.rejected += 1
            raise TrackerOverloadedError("analytics tracking is not running")
        item = self._new_event(event, user_id, properties)
        try:
            self._accept(item)
        except BufferFullError as error:
            self._counters.rejected += 1
            raise TrackerOverloadedError(str(error)) from None
        return item

    async def track(
        self, *, event: str, user_id: int, properties: Mapping[str, Any]
    ) -> None:
        """Track one event from application code; never raises.

        When memory is full, waits up to ``room_wait_s`` for in-flight batches to free
        room (callers are background tasks, so waiting is back-pressure, not latency),
        then gives up on the event, counting it as rejected with a warning.
        """
        try:
            item = self._new_event(event, user_id, properties)
            if not self.accepting:
                # Late caller (after stop): no buffer to wait in, deliver it alone.
                self._counters.sent += 1
                late = Batch(user_id=user_id, items=(item,), reason="drain")
                await self._deliver(late, checked_out=False)
                return
            with anyio.move_on_after(self._room_wait_s):
                while not self._buffer.has_room:
                    await self._settled.wait()
            self._accept(item)
        except BufferFullError:
            self._counters.rejected += 1
            logger.warning(
                "analytics event %r for user %s rejected: memory full", event, user_id
            )
        except Exception as error:
            self._counters.rejected += 1
            # No traceback: a validation error would echo the properties into the log.
            logger.warning(
                "analytics event %r for user %s not tracked (%s)",
                event,
                user_id,
                type(error).__name__,
            )

    def _new_event(
        self, event: str, user_id: int, properties: Mapping[str, Any]
    ) -> TrackedEvent:
        return TrackedEvent(
            event=event,
            user_id=user_id,
            properties=dict(properties),
            timestamp=self._now(),
        )

    def _accept(self, item: TrackedEvent) -> None:
        was_empty = self._buffer.buffered == 0
        batches = self._buffer.add(item.user_id, item)
        self._counters.sent += 1
        if was_empty:
            self._buffer_started.set()
        for batch in batches:
            self._dispatch(batch)

    # -- flushing ---------------------------------------------------------------

    def flush_due(self) -> int:
        """One flusher tick: send every buffer whose oldest event is due; return count."""
        batches = self._buffer.take_due()
        for batch in batches:
            self._dispatch(batch)
        return len(batches)

    async def flush(self) -> None:
        """Send every buffered event now and wait until every batch has settled."""
        for batch in self._buffer.drain():
            self._dispatch(batch)
        await self.wait_settled()

    async def wait_settled(self) -> None:
        """Return once no batch is in flight (new events may still be buffered)."""
        while self._buffer.in_flight:
            await self._settled.wait()

    def _dispatch(self, batch: Batch[TrackedEvent]) -> None:
        if self._schedule is not None and not self._closing:
            # A task of the app's task library: visible in its registry (/demo/tasks).
            try:
                self._schedule(self._deliver, batch)
            except Exception as error:
                # The batch has left the buffer: it must still be delivered by someone.
                logger.warning(
                    "task library refused an analytics batch (%s); delivering it directly",
                    type(error).__name__,
                )
            else:
                return
        if not self._running:
            raise RuntimeError("EventTracker.start() was not called")
        task = asyncio.create_task(self._deliver(batch), name=FLUSH_TASK_NAME)
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(
        self, batch: Batch[TrackedEvent], *, checked_out: bool = True
    ) -> None:
        outcome = DeliveryOutcome.LOST  # stays so if cancelled before an outcome
        try:
            outcome = await deliver_batch(
                user_id=batch.user_id,
                events=batch.items,
                send=self._send,
                store=self._store,
                alert=self._alert,
            )
        except anyio.get_cancelled_exc_class():
            logger.error(
                "analytics batch cancelled (user %s, %d events counted as lost)",
                batch.user_id,
                len(batch),
            )
            raise
        finally:
            self._counters.record(outcome, len(batch))
            if checked_out:
                self._settle(batch)

    def _settle(self, batch: Batch[TrackedEvent]) -> None:
        self._buffer.settle(batch)
        self._settled.set()
        self._settled = anyio.Event()

    async def _run_flusher(self) -> None:
        while True:
            # Sleep until the oldest buffer is due, or until a first event arrives.
            delay = self._buffer.next_due_in()
            with anyio.move_on_after(math.inf if delay is None else delay):
                await self._buffer_started.wait()
            self._buffer_started = anyio.Event()
            try:
                self.flush_due()
            except Exception:
                logger.exception("analytics flusher tick failed")

    # -- lifetime ---------------------------------------------------------------

    async def start(self) -> None:
        """Start the periodic flusher (the app's lifespan calls this at startup)."""
        if self._running:
            raise RuntimeError("EventTracker already started")
        self._running = True
        self._closing = False
        self._flusher = asyncio.create_task(
            self._run_flusher(), name="analytics.flusher"
        )

    async def stop(self) -> None:
        """Flush every buffer and wait for every batch (shielded, bounded by the timeout).

        Must run before the HTTP client and the database engine close: the app's
        lifespan calls it first thing in its teardown, after the task library has
        drained its own tasks.
        """
        if not self._running:
            return
        with anyio.CancelScope(shield=True):
            self._closing = True
            if self._flusher is not None:
                self._flusher.cancel()
                await asyncio.wait([self._flusher])
                self._flusher = None
            with anyio.move_on_after(self._shutdown_timeout_s) as deadline:
                await self.flush()
            if deadline.cancelled_caught:
                logger.error(
                    "analytics: %d events still in flight after %.1f s; giving up on them",
                    self._buffer.in_flight,
                    self._shutdown_timeout_s,
                )
                hung = list(self._deliveries)
                for task in hung:
                    task.cancel()
                if hung:
                    await asyncio.wait(hung)
            self._running = False

    @classmethod
    def for_app(
        cls,
        app: FastAPI,
        settings: Settings,
        *,
        analytics_api: AnalyticsApiClient,
        alerts: AlertClient,
        sessions: SessionFactory,
    ) -> "EventTracker":
        """The app's tracker: settings' limits, deliveries as task-library tasks."""

        async def alert(text: str) -> None:
            await alerts.send(text=text, severity="error", source="analytics")

        async def store(events: Sequence[TrackedEvent]) -> None:
            await store_events(sessions, events)

        # Shielded: a batch in flight has already left the buffer, so cancelling it at
        # shutdown would lose its events. Its work is bounded (HTTP timeout, one insert).
        flush = get_scheduler(app).task(name=FLUSH_TASK_NAME, shield=True)

        def schedule(deliver: DeliverFn, batch: Batch[TrackedEvent]) -> object:
            return flush.schedule(deliver, batch)

        return cls(
            send_batch=analytics_api.send_batch,
            store_batch=store,
            alert=alert,
            batch_size=settings.analytics_batch_size,
            flush_interval_s=settings.analytics_flush_interval_s,
            capacity=settings.analytics_buffer_cap,
            room_wait_s=settings.analytics_service.timeout_s,
            shutdown_timeout_s=settings.shutdown_timeout_s,
            schedule=schedule,
        )

    # -- numbers ----------------------------------------------------------------

    def stats(self) -> AnalyticsStats:
        """Counters since start, plus what is in memory right now."""
        c = self._counters
        return AnalyticsStats(
            sent=c.sent,
            delivered=c.delivered,
            stored=c.stored,
            lost=c.lost,
            rejected=c.rejected,
            buffered=self._buffer.buffered,
            in_flight=self._buffer.in_flight,
            batches_delivered=c.batches_delivered,
            batches_stored=c.batches_stored,
            batches_lost=c.batches_lost,
            capacity=self._buffer.capacity,
        )

    def buffered_for(self, user_id: int) -> int:
        """Events of one user waiting in memory."""
        return self._buffer.buffered_for(user_id)
