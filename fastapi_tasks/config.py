"""Task configuration: ``TaskConfig`` and the ``TaskErrorHandler`` type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, TypedDict

import anyio

if TYPE_CHECKING:
    from fastapi_tasks.task import Task

__all__ = ["TaskConfig", "TaskErrorHandler", "TaskOptions"]

TaskErrorHandler = Callable[["Task", Exception], Any]
"""``on_error`` handler: a sync or async callable ``(task, exception) -> Any``.

Sync handlers run in a worker thread. Inside a handler, ``await task()`` runs the task's call
once more and raises if it fails again (the handler is not re-entered).
"""


@dataclass(slots=True)
class TaskConfig:
    """Settings of a task. ``None`` means "not set here": the next level decides.

    Precedence: per-task ``tasks.task(...)`` > ``add_tasks(app, config=...)`` > defaults.

    - ``name``: shown in logs, the registry and ``repr`` (default: the function's qualified name).
    - ``shield``: ``True`` = keep running at shutdown until done (or ``shutdown_timeout``).
    - ``on_error``: called once with ``(task, exception)`` after the last failed attempt.
    - ``retries``: extra attempts after a failure (default 0).
    - ``retry_delay``: seconds before the first retry (default 0.5).
    - ``retry_backoff``: multiplier per further retry (default 2.0): delay * backoff ** n.
    - ``retry_jitter``: fraction of each delay that is randomised down (default 0.1).
    - ``retry_on``: exception types that trigger a retry (default ``(Exception,)``).
    - ``timeout``: seconds per attempt; on expiry the attempt fails with ``TimeoutError``.
    - ``limit``: at most this many tasks of the same name run at once (an ``int``, shared by
      name), or an ``anyio.CapacityLimiter`` you share yourself. Waiting tasks are ``pending``.
    """

    name: str | None = None
    shield: bool | None = None
    on_error: TaskErrorHandler | None = None
    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    retry_jitter: float | None = None
    retry_on: tuple[type[BaseException], ...] | None = None
    timeout: float | None = None
    limit: int | anyio.CapacityLimiter | None = None

    @property
    def shielded(self) -> bool:
        """Whether the task runs to completion at shutdown (``shield`` is ``True``)."""
        return bool(self.shield)

    def merge(self, other: TaskConfig | None) -> TaskConfig:
        """Return a new config where ``other``'s non-None fields win; mutates neither."""
        if other is None:
            return replace(self)
        overrides = {
            field.name: value
            for field in fields(other)
            if (value := getattr(other, field.name)) is not None
        }
        return replace(self, **overrides)


class TaskOptions(TypedDict, total=False):
    """The keyword arguments of ``.task(...)``: the fields of ``TaskConfig``, all optional.

    A test keeps the two in step.
    """

    name: str | None
    shield: bool | None
    on_error: TaskErrorHandler | None
    retries: int | None
    retry_delay: float | None
    retry_backoff: float | None
    retry_jitter: float | None
    retry_on: tuple[type[BaseException], ...] | None
    timeout: float | None
    limit: int | anyio.CapacityLimiter | None
