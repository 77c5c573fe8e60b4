"""Running one task: limit, attempts, timeout, back-off, logging, ``on_error`` exactly once.

``run_task`` changes only the task itself (state, attempts, result, error) and returns an
``Outcome``; the registry, which started it, files the outcome. (The usual task, one attempt
of a plain ``async def``, is awaited by the registry's own task coroutine.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import anyio

from fastapi_tasks.calls import call_sync_or_async
from fastapi_tasks.failures import call_error_handler, log_extra, log_failure, logger
from fastapi_tasks.retry import backoff_delays
from fastapi_tasks.task import Task, TaskState

__all__ = ["SUCCEEDED_FIRST_TRY", "Outcome", "run_failed", "run_task"]


class Outcome(NamedTuple):
    """How a run ended: ``succeeded`` or ``failed``, and how many built-in retries it took."""

    state: TaskState
    retries: int


SUCCEEDED_FIRST_TRY = Outcome(TaskState.SUCCEEDED, 0)
"""The usual outcome, built once: most tasks succeed at their first attempt."""


async def run_task(task: Task) -> Outcome:
    """Mark ``task`` running, make its attempts, call ``on_error`` once after the last one.

    Never raises except cancellation: a failure is logged, handed to ``on_error`` and
    returned as ``failed``.
    """
    task.mark_running()
    config = task.config
    if config.retries or config.timeout is not None:
        return await _run_attempts(task)
    # One attempt, no timeout: no attempt loop.
    task.attempts += 1
    try:
        task.result = await call_sync_or_async(task.func, task.args, task.kwargs, None)
    except Exception as exc:
        return await run_failed(task, exc)
    return SUCCEEDED_FIRST_TRY


async def _run_attempts(task: Task) -> Outcome:
    """Attempts with ``timeout`` and up to ``retries`` retries, backing off between them."""
    config = task.config
    delays: Iterator[float] | None = None
    retries = 0
    while True:
        task.attempts += 1
        try:
            task.result = await call_sync_or_async(
                task.func, task.args, task.kwargs, config.timeout
            )
        except Exception as exc:
            if not _retryable(task, exc):
                return await run_failed(task, exc, retries)
            retries += 1
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
        else:
            return Outcome(TaskState.SUCCEEDED, retries)


def _retryable(task: Task, exc: Exception) -> bool:
    """Another attempt is allowed (``retries`` not used up) and ``exc`` is one to retry on."""
    config = task.config
    return task.attempts <= (config.retries or 0) and isinstance(
        exc, config.retry_on or (Exception,)
    )


async def run_failed(task: Task, exc: Exception, retries: int = 0) -> Outcome:
    """The end of a failed run: record and log ``exc``, then call ``on_error`` once."""
    task.error = exc
    log_failure(task, exc)
    await call_error_handler(task, exc)
    # A handler may have recovered with ``await task()``, which clears ``task.error``.
    state = TaskState.FAILED if task.error is not None else TaskState.SUCCEEDED
    return Outcome(state, retries)
