"""A task's failure: its log line (never argument values) and its ``on_error`` handler."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from fastapi_tasks.calls import is_async_callable

if TYPE_CHECKING:
    from fastapi_tasks.task import Task

__all__ = [
    "call_error_handler",
    "in_own_error_handler",
    "log_extra",
    "log_failure",
    "logger",
]

# The published package's logger name. A child of ``fastapi_tasks``: handlers on either see it.
logger = logging.getLogger("fastapi_tasks.tasks")

# The task whose ``on_error`` handler runs in this context. There ``await task()`` raises
# instead of calling the handler again: no recursion, and the seed's retry loop counts on it.
_handling: ContextVar[Task | None] = ContextVar("fastapi_tasks_handling", default=None)


def in_own_error_handler(task: Task) -> bool:
    """True while ``task``'s own ``on_error`` handler runs (in this context)."""
    return _handling.get() is task


def log_extra(task: Task) -> dict[str, Any]:
    """Extra fields of every log record about ``task``: ids and names, never arguments."""
    return {
        "task_id": task.id,
        "task_name": task.name,
        "task_mode": task.mode.value,
        "request_id": task.request_id,
    }


def log_failure(task: Task, exc: Exception) -> None:
    """Log ``task``'s failure at ERROR: name, mode, attempts, type and traceback."""
    # Never the argument values: they carry payment tokens, passwords, addresses.
    logger.error(
        "task %r (%s) failed after %d attempt(s): %s",
        task.name,
        task.mode.value,
        task.attempts,
        type(exc).__name__,
        exc_info=exc,
        extra=log_extra(task),
    )


async def call_error_handler(task: Task, exc: Exception) -> None:
    """Call ``task.config.on_error(task, exc)`` if set; a handler that raises is logged, never raised.

    Sync handlers run in a worker thread (it inherits this context).
    """
    handler = task.config.on_error
    if handler is None:
        return
    token = _handling.set(task)
    try:
        if is_async_callable(handler):
            await handler(task, exc)
        else:
            await anyio.to_thread.run_sync(handler, task, exc)
    except Exception as handler_exc:
        logger.error(
            "on_error handler of task %r (%s) raised %s",
            task.name,
            task.mode.value,
            type(handler_exc).__name__,
            exc_info=handler_exc,
            extra=log_extra(task),
        )
    finally:
        _handling.reset(token)
