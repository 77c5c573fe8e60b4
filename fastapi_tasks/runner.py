"""Running one task: limit, attempts, timeout, back-off, logging, ``on_error`` exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anyio

from fastapi_tasks.calls import call_sync_or_async
from fastapi_tasks.failures import call_error_handler, log_extra, log_failure, logger
from fastapi_tasks.retry import backoff_delays
from fastapi_tasks.task import Task, TaskState

__all__ = ["run_task"]


async def run_task(task: Task) -> None:
    """Coroutine behind every task that ``dispatch`` does not drive itself (sync functions,
    async callables without ``__code__``, limits, retries, timeouts). Never raises except
    cancellation.
    """
    registry = task._registry
    assert registry is not None
    try:
        try:
            if task.config.limit is not None:
                # Waits here as ``pending``: marked running once it holds a token.
                async with registry._limiter_for(task):
                    await _execute(task)
            else:
                await _execute(task)
        except Exception as exc:
            # A limit the limiter rejects (``limit=-1``): this task's failure, logged and
            # handed to ``on_error``, instead of an exception that ends the worker unseen.
            if task.finished_at is None:
                await _handle_failure(task, exc)
    except BaseException:
        # Cancellation (shutdown, drain timeout) or a bug: record it, then let it propagate.
        if task.finished_at is None:
            registry._finish(task, TaskState.CANCELLED)
        raise


async def _execute(task: Task) -> None:
    """Mark ``task`` running, then make its attempts: ``on_error`` once after the last one."""
    registry = task._registry
    assert registry is not None
    task.state = TaskState.RUNNING
    task.started_at = time.time()
    if task._started is not None:
        task._started.set()
    config = task.config
    allowed = 1 + max(0, config.retries or 0)
    delays: Iterator[float] | None = None
    while True:
        task.attempts += 1
        try:
            result = await call_sync_or_async(
                task.func, task.args, task.kwargs, config.timeout
            )
        except Exception as exc:
            if task.attempts < allowed and isinstance(
                exc, config.retry_on or (Exception,)
            ):
                registry._retried += 1
                if delays is None:
                    delays = backoff_delays(config)
                delay = next(delays)
                logger.info(
                    "task %r (%s) attempt %d failed with %s; retrying in %.3fs",
                    task.name,
                    task.mode.value,
                    task.attempts,
                    type(exc).__name__,
                    delay,
                    extra=log_extra(task),
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
    log_failure(task, exc)
    await call_error_handler(task, exc)
    # A handler may have recovered with ``await task()``, which clears ``task.error``.
    registry._finish(
        task, TaskState.FAILED if task.error is not None else TaskState.SUCCEEDED
    )
