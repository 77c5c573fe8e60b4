"""``Task``: one scheduled call, with its state, timestamps and outcome."""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Generic

import anyio
from typing_extensions import ParamSpec, TypeVar

from fastapi_tasks.calls import call_sync_or_async
from fastapi_tasks.config import TaskConfig
from fastapi_tasks.failures import call_error_handler, in_own_error_handler, log_failure

__all__ = ["Task", "TaskMode", "TaskState"]

_task_ids = itertools.count(1)

# Defaults keep a bare ``Task`` (in handlers: ``task: Task``) valid under ``mypy --strict``.
P = ParamSpec("P", default=...)
T = TypeVar("T", default=Any)


class TaskMode(StrEnum):
    """When a task starts, relative to its request."""

    IMMEDIATE = "immediate"
    AFTER_ROUTE = "after_route"
    AFTER_RESPONSE = "after_response"


class TaskState(StrEnum):
    """Life cycle: pending -> running -> succeeded | failed | cancelled."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _function_name(func: Any) -> str:
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__qualname__", None) or type(func).__qualname__


class Task(Generic[P, T]):
    """One scheduled call of ``func(*args, **kwargs)`` and what became of it.

    Generic in the function's parameters and result: ``schedule(fn, ...)`` returns a
    ``Task[P, T]``, so ``await task.wait(); task.result`` is typed (``T | None``).

    ``await task()`` runs the call once more. Inside the task's own ``on_error`` it returns the
    result or raises (the documented retry pattern); elsewhere a failure goes to ``on_error``.
    ``await task.wait()`` returns once the task finished, whatever the outcome; it never raises.
    ``repr(task)`` never shows the arguments (they may hold secrets).
    """

    __slots__ = (
        "_done",
        "_final_state",
        "_started",
        "args",
        "attempts",
        "config",
        "error",
        "finished_at",
        "func",
        "id",
        "kwargs",
        "mode",
        "name",
        "request_id",
        "result",
        "route",
        "scheduled_at",
        "started_at",
    )

    func: Callable[P, Awaitable[T]] | Callable[P, T]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    config: TaskConfig
    mode: TaskMode
    name: str
    """``config.name`` if set, else the function's qualified name."""
    attempts: int
    result: T | None
    error: BaseException | None
    scheduled_at: float
    started_at: float | None
    finished_at: float | None
    request_id: int | None
    route: str | None
    id: int

    def __init__(
        self,
        func: Callable[P, Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        config: TaskConfig | None = None,
        request_id: int | None = None,
        route: str | None = None,
        mode: TaskMode = TaskMode.IMMEDIATE,
        scheduled_at: float | None = None,
    ) -> None:
        """A task not yet started; ``Task(func=f, args=(), kwargs={})`` builds one by hand."""
        self.func = func
        self.args = args
        self.kwargs = kwargs
        if config is None:
            config = TaskConfig()
        self.config = config
        # A plain function names itself; partials and callable objects need unwrapping.
        self.name = (
            config.name or getattr(func, "__qualname__", None) or _function_name(func)
        )
        self.mode = mode
        # Pending and running follow from ``started_at``; the outcome is set once, at the end.
        self._final_state: TaskState | None = None
        self.attempts = 0
        self.result = None
        self.error = None
        self.scheduled_at = time.time() if scheduled_at is None else scheduled_at
        self.started_at = None
        self.finished_at = None
        self.request_id = request_id
        self.route = route
        self.id = next(_task_ids)
        # Created on first use: most tasks are never awaited or watched.
        self._started: anyio.Event | None = None
        self._done: anyio.Event | None = None

    @property
    def started(self) -> anyio.Event:
        """An ``anyio.Event`` set when the task begins running (created on first access)."""
        event = self._started
        if event is None:
            event = self._started = anyio.Event()
            if self.started_at is not None:
                event.set()
        return event

    @property
    def state(self) -> TaskState:
        """Life cycle: pending -> running -> succeeded | failed | cancelled."""
        if self._final_state is not None:
            return self._final_state
        return TaskState.PENDING if self.started_at is None else TaskState.RUNNING

    @property
    def done(self) -> bool:
        """True once the task succeeded, failed or was cancelled."""
        return self.finished_at is not None

    def mark_running(self) -> None:
        """Pending -> running (called by the runner when the first attempt begins)."""
        self.started_at = time.time()
        if self._started is not None:
            self._started.set()

    def mark_finished(self, state: TaskState) -> None:
        """Record the final state (called by the registry, which also files the task)."""
        self._final_state = state
        self.finished_at = time.time()
        if self._done is not None:
            self._done.set()

    async def wait(self) -> None:
        """Wait until the task finished (any outcome). Never raises the task's error."""
        if self.finished_at is not None:
            return
        event = self._done
        if event is None:
            event = self._done = anyio.Event()
        await event.wait()

    async def __call__(self) -> T | None:
        """Run the call once more.

        Inside this task's own ``on_error`` handler: return the result or raise the exception
        (the handler is not re-entered; the documented retry pattern). Anywhere else, as in the
        published package: on failure, log it, call ``on_error(task, exc)`` and return ``None``.
        """
        if in_own_error_handler(self):
            return await self._call_once()
        try:
            return await self._call_once()
        except Exception as exc:
            log_failure(self, exc)
            await call_error_handler(self, exc)
            return None

    async def _call_once(self) -> T:
        self.attempts += 1
        try:
            result: T = await call_sync_or_async(
                self.func, self.args, self.kwargs, self.config.timeout
            )
        except Exception as exc:
            self.error = exc
            raise
        self.result = result
        self.error = None
        return result

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for dashboards: no arguments, no result, only the error's type."""
        return {
            "id": self.id,
            "name": self.name,
            "mode": self.mode.value,
            "state": self.state.value,
            "attempts": self.attempts,
            "shielded": self.config.shielded,
            "request_id": self.request_id,
            "route": self.route,
            "scheduled_at": self.scheduled_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": None if self.error is None else type(self.error).__name__,
        }

    def __repr__(self) -> str:
        return (
            f"<Task #{self.id} {self.name!r} mode={self.mode.value} state={self.state.value}"
            f" attempts={self.attempts} request_id={self.request_id}>"
        )
