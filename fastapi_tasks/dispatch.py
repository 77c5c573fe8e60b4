"""Starting tasks cheaply: one asyncio task drains a queue of tasks; a task that suspends keeps
that asyncio task for itself, and a new one takes over the queue.

Why: an ``asyncio.Task`` per scheduled task costs a few microseconds (creation, the loop's
weak set of all tasks, one scheduling round) even when the task is a no-op. Most tasks here are
short; with this dispatcher a request's three tasks usually cost one ``asyncio.Task``.

Semantics are those of ``create_task`` per task:

- each task runs in its own ``contextvars.Context`` (copied when it was scheduled);
- a task never moves between asyncio tasks: from its first step to its last it runs inside
  one worker, so ``asyncio.current_task()``, anyio cancel scopes and ``asyncio.timeout`` behave;
- a worker whose task suspended runs nothing else, and ends with that task. Cancelling that
  worker cancels exactly that task (used at shutdown);
- start order is queue order (FIFO), as with ``call_soon``.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from fastapi_tasks.runner import run_task

if TYPE_CHECKING:
    from fastapi_tasks.registry import TaskRegistry
    from fastapi_tasks.task import Task

__all__ = ["dispatch"]

_current_task = asyncio.current_task


async def dispatch(registry: TaskRegistry) -> None:
    """Worker: run queued tasks one after another until one suspends or the queue is empty."""
    queue = registry._queue
    me = _current_task()
    assert me is not None
    while queue:
        task = queue.popleft()
        if task.finished_at is not None:  # cancelled while it waited in the queue
            continue
        if await _drive(task, registry, me):
            return  # the task suspended; another worker owns the queue now
    registry._dispatching = False


def _hand_off(registry: TaskRegistry) -> None:
    registry._dispatching = False
    if registry._queue:
        registry._spawn_worker()


@types.coroutine
def _drive(
    task: Task, registry: TaskRegistry, me: asyncio.Task[Any]
) -> Generator[Any, Any, bool]:
    """Run ``task`` to completion inside this worker; True if it suspended along the way.

    Equivalent to ``await run_task(task)`` inside ``task``'s own context, except that at the
    first suspension the queue is handed to another worker.
    """
    task._atask = me
    context = task._context
    assert context is not None
    coro = run_task(task)
    try:
        yielded = context.run(coro.send, None)
    except StopIteration:
        return False
    except BaseException:
        _hand_off(registry)
        raise
    _hand_off(registry)
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = context.run(coro.throw, exc)
            except StopIteration:
                return True
        else:
            try:
                yielded = context.run(coro.send, sent)
            except StopIteration:
                return True


def worker_context() -> contextvars.Context:
    """The (empty) context workers run in; each task runs in its own copy on top of that."""
    return contextvars.Context()
