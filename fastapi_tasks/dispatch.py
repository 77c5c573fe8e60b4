"""Starting tasks cheaply: one asyncio task drains a queue of tasks; a task that suspends keeps
that asyncio task for itself, and a new one takes over the queue.

Why: an ``asyncio.Task`` per scheduled task costs a few microseconds (creation, the loop's
weak set of all tasks, one scheduling round) even when the task is a no-op. Most tasks here are
short; with this dispatcher a request's three tasks usually cost no new ``asyncio.Task`` at
all (the idle worker is woken, see the last point below).

Semantics are those of ``create_task`` per task:

- each task runs in its own ``contextvars.Context`` (copied when it was scheduled);
- a task never moves between asyncio tasks: from its first step to its last it runs inside
  one worker, so ``asyncio.current_task()``, anyio cancel scopes and ``asyncio.timeout`` behave;
- a worker whose task suspended runs nothing else, and ends with that task. Cancelling that
  worker cancels exactly that task (used at shutdown);
- start order is queue order (FIFO), as with ``call_soon``;
- the worker carries the name of the task it runs (``asyncio.current_task().get_name()``);
- a worker that emptied the queue does not end: it waits, holding no task, until
  ``_spawn_worker`` wakes it for the next one (cheaper than a new ``asyncio.Task`` per request).
  Shutdown cancels that wait; at most one worker per app is idle.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import time
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from fastapi_tasks.runner import _handle_failure, run_task
from fastapi_tasks.task import Task, TaskState

if TYPE_CHECKING:
    from fastapi_tasks.registry import TaskRegistry

__all__ = ["IDLE_WORKER_NAME", "dispatch", "worker_context"]

IDLE_WORKER_NAME = "fastapi_tasks: idle worker"

_current_task = asyncio.current_task
_get_running_loop = asyncio.get_running_loop
_CO_COROUTINE = inspect.CO_COROUTINE
_RUNNING = TaskState.RUNNING
_SUCCEEDED = TaskState.SUCCEEDED
_CANCELLED = TaskState.CANCELLED
_now = time.time


async def dispatch(registry: TaskRegistry) -> None:
    """Worker: run queued tasks one after another until one suspends; idle while none is queued."""
    queue = registry._queue
    me = _current_task()
    assert me is not None
    while True:
        while queue:
            task = queue.popleft()
            if task.finished_at is not None:  # cancelled while it waited in the queue
                continue
            task._atask = me
            # Debuggers, aiomonitor and ``current_task().get_name()`` show the task running.
            me.set_name(task.name)
            context = task._context
            assert context is not None
            config = task.config
            func: Callable[..., Any] = task.func
            code = getattr(func, "__code__", None)
            if (
                code is None
                or not code.co_flags & _CO_COROUTINE
                or config.limit is not None
                or config.retries
                or config.timeout is not None
            ):
                # General path: sync functions, limits, retries, timeouts.
                if await _run_in_worker(context, run_task(task), registry):
                    return
                continue
            # Fast path: a plain ``async def`` without policies, driven directly.
            task.state = _RUNNING
            task.started_at = _now()
            if task._started is not None:
                task._started.set()
            task.attempts = 1
            try:
                # Inside the ``try``: arguments that do not bind (built at run time, beyond
                # ParamSpec) raise TypeError here, a failure of this task, not of the worker.
                coro = func(*task.args, **task.kwargs)
                yielded = context.run(coro.send, None)
            except StopIteration as stop:
                task.result = stop.value
                registry._finish(task, _SUCCEEDED)
                continue
            except Exception as exc:
                if await _run_in_worker(context, _handle_failure(task, exc), registry):
                    return
                continue
            except BaseException:
                if task.finished_at is None:
                    registry._finish(task, _CANCELLED)
                _hand_off(registry)
                raise
            # It suspended: it keeps this worker to the end; another worker takes the queue.
            _hand_off(registry)
            tail = _complete(task, coro, yielded)
            first = context.run(tail.send, None)  # returns ``yielded`` straight back
            await _follow(context, tail, first)
            return
        registry._dispatching = False
        if registry._closing:
            return
        # Idle: wait here for the next task rather than end. Waking this worker costs less
        # than creating an ``asyncio.Task`` for every request (see ``_spawn_worker``).
        me.set_name(IDLE_WORKER_NAME)
        idle = registry._idle_worker = _get_running_loop().create_future()
        await idle


def _hand_off(registry: TaskRegistry) -> None:
    registry._dispatching = False
    if registry._queue:
        registry._spawn_worker()


async def _run_in_worker(
    context: contextvars.Context,
    coro: Coroutine[Any, Any, None],
    registry: TaskRegistry,
) -> bool:
    """Run ``coro`` in ``context`` inside this worker; True if it suspended (queue handed off)."""
    try:
        yielded = context.run(coro.send, None)
    except StopIteration:
        return False
    except BaseException:
        _hand_off(registry)
        raise
    _hand_off(registry)
    await _follow(context, coro, yielded)
    return True


async def _complete(task: Task, coro: Coroutine[Any, Any, Any], yielded: Any) -> None:
    """The rest of a fast-path task after its first suspension (runs in the task's context)."""
    registry = task._registry
    assert registry is not None
    try:
        result = await _follow_here(coro, yielded)
    except Exception as exc:
        await _handle_failure(task, exc)
        return
    except BaseException:
        if task.finished_at is None:
            registry._finish(task, _CANCELLED)
        raise
    task.result = result
    registry._finish(task, _SUCCEEDED)


@types.coroutine
def _follow(
    context: contextvars.Context, coro: Coroutine[Any, Any, Any], yielded: Any
) -> Generator[Any, Any, Any]:
    """Keep driving a suspended coroutine, each step inside ``context``, until it returns.

    This is ``yield from`` for a coroutine that has already taken its first step.
    """
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = context.run(coro.throw, exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = context.run(coro.send, sent)
            except StopIteration as stop:
                return stop.value


@types.coroutine
def _follow_here(
    coro: Coroutine[Any, Any, Any], yielded: Any
) -> Generator[Any, Any, Any]:
    """``_follow`` in the current context."""
    while True:
        try:
            sent = yield yielded
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


def worker_context() -> contextvars.Context:
    """The (empty) context workers run in; each task runs in its own copy on top of that."""
    return contextvars.Context()
