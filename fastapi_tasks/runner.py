"""Running one task: limit, attempts, timeout, back-off, logging, ``on_error`` exactly once."""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

import anyio
import anyio.to_thread

from fastapi_tasks.calls import call_sync_or_async, is_async_callable
from fastapi_tasks.retry import backoff_delays
from fastapi_tasks.task import Task, TaskState

__all__ = ["logger", "run_task"]

logger = logging.getLogger("fastapi_tasks")

_CO_COROUTINE = inspect.CO_COROUTINE
_RUNNING = TaskState.RUNNING
_SUCCEEDED = TaskState.SUCCEEDED
_now = time.time


def _log_extra(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "task_name": task.name,
        "task_mode": task.mode.value,
        "request_id": task.request_id,
    }


async def run_task(task: Task) -> None:
    """Coroutine behind every task (one ``asyncio.Task`` each). Never raises except cancellation.

    The common case (no limit, retries or timeout; an ``async def``) is kept to a handful of
    attribute writes around one ``await``: this runs once per task.
    """
    registry = task._registry
    assert registry is not None
    config = task.config
    try:
        if config.limit is not None:
            async with registry._limiter_for(task):
                await _execute(task)
            return
        if config.retries or config.timeout is not None:
            await _execute(task)
            return
        task.state = _RUNNING
        task.started_at = _now()
        if task._started is not None:
            task._started.set()
        task.attempts = 1
        func = task.func
        try:
            code = getattr(func, "__code__", None)
            if (
                code is not None and code.co_flags & _CO_COROUTINE
            ) or is_async_callable(func):
                result = await func(*task.args, **task.kwargs)
            else:
                result = await call_sync_or_async(func, task.args, task.kwargs, None)
        except Exception as exc:
            await _handle_failure(task, exc)
            return
        task.result = result
        registry._finish(task, _SUCCEEDED)
    except BaseException:
        # Cancellation (shutdown, drain timeout) or a bug: record it, then let it propagate.
        if task.finished_at is None:
            registry._finish(task, TaskState.CANCELLED)
        raise


async def _execute(task: Task) -> None:
    task.state = _RUNNING
    task.started_at = _now()
    if task._started is not None:
        task._started.set()
    await _execute_with_policy(task)


async def _execute_with_policy(task: Task) -> None:
    config = task.config
    registry = task._registry
    assert registry is not None
    allowed = 1 + max(0, config.retries or 0)
    retry_on = config.retry_on or (Exception,)
    delays = backoff_delays(config)
    while True:
        task.attempts += 1
        try:
            result = await call_sync_or_async(
                task.func, task.args, task.kwargs, config.timeout
            )
        except Exception as exc:
            if task.attempts < allowed and isinstance(exc, retry_on):
                registry._retried += 1
                delay = next(delays)
                logger.info(
                    "task %r (%s) attempt %d failed with %s; retrying in %.3fs",
                    task.name,
                    task.mode.value,
                    task.attempts,
                    type(exc).__name__,
                    delay,
                    extra=_log_extra(task),
                )
                await anyio.sleep(delay)
                continue
            await _handle_failure(task, exc)
            return
        task.result = result
        registry._finish(task, TaskState.SUCCEEDED)
        return


async def _handle_failure(task: Task, exc: Exception) -> None:
    registry = task._registry
    assert registry is not None
    task.error = exc
    # Name, mode, exception type and traceback only: argument values may hold secrets.
    logger.error(
        "task %r (%s) failed after %d attempt(s): %s",
        task.name,
        task.mode.value,
        task.attempts,
        type(exc).__name__,
        exc_info=exc,
        extra=_log_extra(task),
    )
    handler = task.config.on_error
    if handler is not None:
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
                extra=_log_extra(task),
            )
    # A handler may have recovered with ``await task()``, which clears ``task.error``.
    registry._finish(
        task, TaskState.FAILED if task.error is not None else TaskState.SUCCEEDED
    )
