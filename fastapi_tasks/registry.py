"""``TaskRegistry``: the per-app owner of tasks (who is running, bounded history, counters).

Every change to that state goes through the methods below: ``hold`` (a deferred task waits
for its start point), ``start`` (one ``asyncio`` task per task, with the context copied when it
was scheduled), ``drop`` (its start point never came), ``cancel``, and the private ``_finish``
that files each outcome. ``lifespan()`` opens and drains it with the app.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import types
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import anyio

from fastapi_tasks.config import TaskConfig
from fastapi_tasks.failures import log_extra, logger
from fastapi_tasks.runner import SUCCEEDED_FIRST_TRY, Outcome, run_failed, run_task
from fastapi_tasks.task import Task, TaskState

__all__ = ["DEFAULT_MAX_FINISHED", "TaskCounters", "TaskRegistry"]

DEFAULT_MAX_FINISHED = 1000


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
        # Tasks filed under each outcome. "scheduled" is not counted: every task registered is
        # either still active or filed under exactly one outcome (see ``counters``). Keyed by
        # the state itself (a ``str``, hashed in C): filing a task needs no branch on it.
        self._outcomes = dict.fromkeys(
            (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED), 0
        )
        self._retried = 0
        # Pending and running tasks, with the asyncio task running each (None until started).
        self._active: dict[Task, asyncio.Task[None] | None] = {}
        self._finished: deque[Task] = deque(maxlen=max_finished)
        self._limiters: dict[str, anyio.CapacityLimiter] = {}
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._closing = False
        # The app's event loop and its thread, noted when the lifespan starts: worker
        # threads hand their tasks over to it (see ``_current_loop``).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    # ---- reading -------------------------------------------------------------------------
    @property
    def counters(self) -> TaskCounters:
        """Totals since the app was created: scheduled, succeeded, failed, retried, cancelled."""
        outcomes = self._outcomes
        return TaskCounters(
            scheduled=sum(outcomes.values()) + len(self._active),
            succeeded=outcomes[TaskState.SUCCEEDED],
            failed=outcomes[TaskState.FAILED],
            retried=self._retried,
            cancelled=outcomes[TaskState.CANCELLED],
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

    # ---- scheduling (called by the scheduler; from a worker thread too) -------------------
    def start(self, task: Task, context: contextvars.Context) -> None:
        """Register ``task`` and start it now, in ``context`` (copied when it was scheduled)."""
        # On the app's loop thread (the usual case) its loop needs no look-up.
        on_app_loop = threading.get_ident() == self._loop_thread
        loop = self._loop if on_app_loop else self._current_loop()
        if loop is None:
            self._hand_over(self.start, task, context)
            return
        self._start(loop, task, context)

    def hold(self, task: Task) -> None:
        """Register ``task`` as pending: it starts at its start point (``start_held``)."""
        if threading.get_ident() != self._loop_thread and self._current_loop() is None:
            self._hand_over(self.hold, task)
            return
        self._active[task] = None

    def start_held(self, held: Iterable[tuple[Task, contextvars.Context]]) -> None:
        """Start tasks registered by ``hold``, in order (their start point came)."""
        on_app_loop = threading.get_ident() == self._loop_thread
        loop = self._loop if on_app_loop else self._current_loop()
        assert loop is not None, "start points are reached on the event loop"
        for task, context in held:
            if task in self._active:  # else cancelled while it was held
                self._start(loop, task, context)

    def drop(self, tasks: Iterable[Task]) -> None:
        """Tasks registered by ``hold`` whose start point never came: cancelled, never run."""
        for task in tasks:
            if task in self._active and self._active[task] is None:
                self._finish(task, TaskState.CANCELLED)

    def cancel(self, task: Task) -> None:
        """Cancel ``task``: a held one never runs, a running one gets ``CancelledError``."""
        if task not in self._active:
            return
        atask = self._active[task]
        if atask is None:
            self._finish(task, TaskState.CANCELLED)
            return
        # An asyncio task cancelled before its first step never reaches ``_run``'s handler.
        atask.add_done_callback(lambda _: self._finish(task, TaskState.CANCELLED))
        atask.cancel()

    def _current_loop(self) -> asyncio.AbstractEventLoop | None:
        """The running event loop; None in a worker thread (a sync endpoint or sync task).

        ``asyncio.get_running_loop()`` makes a ``getpid()`` system call on Python 3.11 (to
        notice a fork), and every task would need it: the app's loop and its thread, noted
        while the lifespan runs, answer the usual case without one.
        """
        if self._loop_thread == threading.get_ident():
            return self._loop
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _hand_over(self, method: Callable[..., None], *args: object) -> None:
        """From a worker thread (a sync endpoint or task): call ``method`` on the app's loop."""
        if self._loop is None:
            raise RuntimeError(
                "fastapi_tasks: cannot schedule from a thread before the app's event loop ran"
            )
        self._loop.call_soon_threadsafe(method, *args)

    def _start(
        self,
        loop: asyncio.AbstractEventLoop,
        task: Task,
        context: contextvars.Context,
    ) -> None:
        if self._closing and not task.config.shield:
            self._active[task] = None  # registered (if it was not held), then filed
            self._finish(task, TaskState.CANCELLED)
            return
        # The asyncio task carries the task's name: debuggers and aiomonitor show it.
        # Without a task factory on the loop, ``asyncio.Task`` is what ``loop.create_task``
        # builds, named at birth: uvloop's ``create_task`` names a task in a second call
        # (``set_name``), 2.3k instructions per task (callgrind, ``bench/README.md``).
        if loop.get_task_factory() is None:
            atask = asyncio.Task(
                self._run(task), loop=loop, name=task.name, context=context
            )
        else:
            atask = loop.create_task(self._run(task), name=task.name, context=context)
        self._active[task] = atask

    async def _run(self, task: Task) -> None:
        """The coroutine of ``task``'s asyncio task: run it, then file its outcome.

        The usual task (a plain ``async def``; no limit, retries or timeout) makes its one
        attempt right here: its asyncio task runs two coroutines, this one and the function's,
        instead of three. Anything else goes through the runner (``run_task``).
        """
        config = task.config
        func = task.func
        try:
            if (
                config.limit is None
                and not config.retries
                and config.timeout is None
                and type(func) is types.FunctionType
                and func.__code__.co_flags & inspect.CO_COROUTINE
            ):
                task.mark_running()
                task.attempts += 1
                try:
                    task.result = await func(*task.args, **task.kwargs)
                except Exception as exc:
                    outcome = await run_failed(task, exc)
                else:
                    outcome = SUCCEEDED_FIRST_TRY
            elif config.limit is None:
                outcome = await run_task(task)
            else:
                outcome = await self._run_limited(task)
        except BaseException:
            # Cancellation (shutdown, drain timeout) or a bug: record it, then let it propagate.
            self._finish(task, TaskState.CANCELLED)
            raise
        if outcome.retries:
            self._retried += outcome.retries
        self._finish(task, outcome.state)

    async def _run_limited(self, task: Task) -> Outcome:
        """``run_task`` holding a token of the task's limiter: ``pending`` until it has one."""
        try:
            limiter = self._limiter_for(task)
            async with limiter:
                return await run_task(task)
        except Exception as exc:
            # A limit the limiter rejects (``limit=-1``): this task's failure, logged and
            # handed to ``on_error``, instead of an exception that ends its asyncio task unseen.
            return await run_failed(task, exc)

    def _limiter_for(self, task: Task) -> anyio.CapacityLimiter:
        """``limit`` itself if it is a limiter, else the one shared by tasks of that name."""
        limit = task.config.limit
        if isinstance(limit, anyio.CapacityLimiter):
            return limit
        assert limit is not None
        name = task.name
        limiter = self._limiters.get(name)
        if limiter is None:
            limiter = self._limiters[name] = anyio.CapacityLimiter(limit)
        return limiter

    def _finish(self, task: Task, state: TaskState) -> None:
        """File ``task``'s outcome (once): history, counters, idle waiters."""
        try:
            del self._active[task]
        except KeyError:  # already filed
            return
        task.mark_finished(state)
        self._finished.append(task)
        self._outcomes[state] += 1
        if self._idle_waiters and not self._active:
            waiters, self._idle_waiters = self._idle_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    # ---- the app's lifespan -------------------------------------------------------------
    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Open for tasks while the app runs; at exit, cancel or drain them (see ``_drain``)."""
        self.lifespan_started = True
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            yield
        finally:
            try:
                await self._drain()
            finally:
                # Its loop may end now: from here on ask asyncio for the running one.
                self._loop_thread = None

    async def _drain(self) -> None:
        """Cancel non-shielded tasks, drain shielded ones (up to ``shutdown_timeout``)."""
        self._closing = True
        for task in [t for t in self._active if not t.config.shield]:
            self.cancel(task)
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
            self.cancel(task)
        if not await self.wait_idle(5.0):
            logger.error(
                "%d task(s) ignored cancellation at shutdown: %s",
                len(self._active),
                ", ".join(repr(t.name) for t in self.running),
            )
