"""``TaskRegistry``: the per-app bookkeeping of tasks (running set, bounded history, counters)."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from fastapi_tasks.config import TaskConfig
from fastapi_tasks.dispatch import IDLE_WORKER_NAME, dispatch, worker_context
from fastapi_tasks.failures import log_extra, logger
from fastapi_tasks.task import Task, TaskState

__all__ = ["DEFAULT_MAX_FINISHED", "TaskCounters", "TaskRegistry"]

DEFAULT_MAX_FINISHED = 1000

_get_running_loop = asyncio.get_running_loop
_copy_context = contextvars.copy_context
_SUCCEEDED = TaskState.SUCCEEDED
_now = time.time


@dataclass(slots=True)
class TaskCounters:
    """Totals since the app was created (``retried`` counts retry attempts, not tasks)."""

    scheduled: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    cancelled: int = 0


class TaskRegistry:
    """Every pending or running task of one app, the last ``max_finished`` finished ones, counters.

    Read it without a request via ``get_registry(app)``. Memory stays flat: finished tasks
    beyond ``max_finished`` are forgotten (the counters keep counting).
    """

    def __init__(
        self,
        config: TaskConfig | None = None,
        *,
        max_finished: int = DEFAULT_MAX_FINISHED,
        shutdown_timeout: float | None = None,
    ) -> None:
        self.config = config if config is not None else TaskConfig()
        self.max_finished = max_finished
        self.shutdown_timeout = shutdown_timeout
        # Set when the app's lifespan starts: without it nothing would drain tasks at shutdown.
        self.lifespan_started = False
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._retried = 0
        self._active: set[Task] = set()
        self._finished: deque[Task] = deque(maxlen=max_finished)
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[Task] = deque()
        self._dispatching = False
        # Set while a worker waits for work (see ``dispatch``): ``_spawn_worker`` wakes it.
        self._idle_worker: asyncio.Future[None] | None = None
        self._worker_context = worker_context()

    # ---- reading -------------------------------------------------------------------------
    @property
    def counters(self) -> TaskCounters:
        """Totals since the app was created: scheduled, succeeded, failed, retried, cancelled."""
        finished = self._succeeded + self._failed + self._cancelled
        return TaskCounters(
            scheduled=finished + len(self._active),
            succeeded=self._succeeded,
            failed=self._failed,
            retried=self._retried,
            cancelled=self._cancelled,
        )

    @property
    def running(self) -> list[Task]:
        """Tasks that are pending or running, oldest first."""
        return sorted(self._active, key=lambda t: t.id)

    @property
    def recent(self) -> list[Task]:
        """The last ``max_finished`` finished tasks, oldest first."""
        return list(self._finished)

    @property
    def closing(self) -> bool:
        """True while the app shuts down (new non-shielded tasks are cancelled at once)."""
        return self._closing

    @property
    def active_count(self) -> int:
        """How many tasks are pending or running."""
        return len(self._active)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view: counters, running tasks and recent tasks (never arguments)."""
        return {
            "counters": asdict(self.counters),
            "running": [t.as_dict() for t in self.running],
            "recent": [t.as_dict() for t in self._finished],
        }

    # ---- internals -----------------------------------------------------------------------
    def _add(self, task: Task, start: bool) -> None:
        """Register ``task`` (and start it when ``start``); callable from worker threads too."""
        try:
            loop = _get_running_loop()
        except RuntimeError:
            # A sync endpoint or task in a worker thread: hand over to the event loop.
            owner = self._loop
            if owner is None:
                raise RuntimeError(
                    "fastapi_tasks: cannot schedule from a thread before the app's event loop ran"
                ) from None
            owner.call_soon_threadsafe(self._add, task, start)
            return
        self._loop = loop
        self._active.add(task)
        if start:
            self._start(task)

    def _start(self, task: Task) -> None:
        """Queue ``task`` for a worker (see ``dispatch``); runs on the event loop."""
        if task.finished_at is not None:
            return
        if self._closing and not task.config.shield:
            self._finish(task, TaskState.CANCELLED)
            return
        if task._context is None:
            task._context = _copy_context()
        self._queue.append(task)
        if not self._dispatching:
            self._spawn_worker()

    def _spawn_worker(self) -> None:
        self._dispatching = True
        loop = _get_running_loop()
        idle = self._idle_worker
        if idle is not None:
            self._idle_worker = None
            # Waking the idle worker is cheaper than a new ``asyncio.Task``. It must belong
            # to this loop (an app may be driven by several loops one after another).
            if idle.get_loop() is loop and not idle.done():
                idle.set_result(None)
                return
        loop.create_task(
            dispatch(self), name=IDLE_WORKER_NAME, context=self._worker_context
        )

    def _start_many(self, tasks: list[Task]) -> None:
        for task in tasks:
            self._start(task)

    def _drop_many(self, tasks: list[Task]) -> None:
        """Tasks whose start point never came (their endpoint raised): cancelled, never run."""
        for task in tasks:
            if task.finished_at is None and task._atask is None:
                self._finish(task, TaskState.CANCELLED)

    def _finish(self, task: Task, state: TaskState) -> None:
        task.state = state
        task.finished_at = _now()
        task._atask = None
        task._context = None
        self._active.discard(task)
        self._finished.append(task)
        if state is _SUCCEEDED:
            self._succeeded += 1
        elif state is TaskState.FAILED:
            self._failed += 1
        else:
            self._cancelled += 1
        if task._done is not None:
            task._done.set()
        if not self._active and self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _limiter_for(self, task: Task) -> anyio.CapacityLimiter:
        limit = task.config.limit
        if isinstance(limit, anyio.CapacityLimiter):
            return limit
        assert limit is not None
        name = task.name
        limiter = self._limiters.get(name)
        if limiter is None:
            limiter = self._limiters[name] = anyio.CapacityLimiter(limit)
        return limiter

    async def wait_idle(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until no task is pending or running; False if ``timeout`` expired first."""
        if not self._active:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(fut)
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            return False
        finally:
            if fut in self._idle_waiters:
                self._idle_waiters.remove(fut)
        return True

    def _cancel(self, task: Task) -> None:
        atask = task._atask
        if atask is None:
            # Deferred and not started yet: it will never run.
            if task.finished_at is None:
                self._finish(task, TaskState.CANCELLED)
            return
        # A task cancelled before its first step never runs its own bookkeeping.
        atask.add_done_callback(lambda _t: self._finish_cancelled(task))
        atask.cancel()

    def _finish_cancelled(self, task: Task) -> None:
        if task.finished_at is None:
            self._finish(task, TaskState.CANCELLED)

    def _startup(self) -> None:
        self.lifespan_started = True
        self._closing = False
        self._dispatching = False  # a new event loop: workers of an old one are gone
        # An idle worker left on an old loop ends with that loop; never wake it from this one.
        self._idle_worker = None
        self._loop = _get_running_loop()

    async def _shutdown(self) -> None:
        """Cancel non-shielded tasks, drain shielded ones (up to ``shutdown_timeout``)."""
        self._closing = True
        idle, self._idle_worker = self._idle_worker, None
        if idle is not None and idle.get_loop() is _get_running_loop():
            idle.cancel()  # the idle worker ends (it holds no task)
        for task in [t for t in self._active if not t.config.shield]:
            self._cancel(task)
        if await self.wait_idle(self.shutdown_timeout):
            return
        for task in self.running:
            logger.warning(
                "shutdown_timeout (%ss) expired: cancelling shielded task %r (%s, state %s)",
                self.shutdown_timeout,
                task.name,
                task.mode.value,
                task.state.value,
                extra=log_extra(task),
            )
            self._cancel(task)
        if not await self.wait_idle(5.0):
            logger.error(
                "%d task(s) ignored cancellation at shutdown: %s",
                len(self._active),
                ", ".join(repr(t.name) for t in self.running),
            )
