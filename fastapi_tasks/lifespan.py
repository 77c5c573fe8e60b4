"""``add_tasks``: installs task support on a FastAPI app (a lifespan nested inside the app's)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

from fastapi import FastAPI

from fastapi_tasks.config import TaskConfig
from fastapi_tasks.errors import FastAPITasksUninitializedAppError
from fastapi_tasks.registry import DEFAULT_MAX_FINISHED, TaskRegistry
from fastapi_tasks.scheduler import TasksScheduler

__all__ = ["APP_ATTR", "STATE_ATTR", "add_tasks", "get_registry", "get_scheduler"]

STATE_ATTR = "fastapi_tasks"
# The registry is also kept as a plain attribute of the app object: reading it costs a fraction
# of a ``State`` lookup, and ``Tasks`` reads it on every request that declares it.
APP_ATTR = "_fastapi_tasks_registry"

_LifespanFactory = Callable[
    [Any], AbstractAsyncContextManager[Mapping[str, Any] | None]
]


def _nest_inside(
    original: _LifespanFactory, registry: TaskRegistry
) -> _LifespanFactory:
    """Our lifespan runs inside the app's: enters after it, drains tasks before its teardown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        async with original(app) as state, registry.lifespan():
            yield state

    return lifespan


def add_tasks(
    app: FastAPI,
    *,
    config: TaskConfig | None = None,
    shutdown_timeout: float | None = None,
    max_finished: int = DEFAULT_MAX_FINISHED,
) -> TaskRegistry:
    """Install task support on ``app``; returns its ``TaskRegistry``.

    ``config`` is the default of every task (per-task ``.task(...)`` settings win).
    ``shutdown_timeout``: seconds shielded tasks get at shutdown before being cancelled (with a
    warning naming each); ``None`` waits without limit. ``max_finished`` bounds the history.
    The app's own lifespan (and the state it yields) is kept: it is entered first and exited
    last, so shielded tasks still find its resources open while they drain.
    Call it once, after ``include_router`` calls whose routers have their own lifespans.
    """
    existing = getattr(app.state, STATE_ATTR, None)
    if isinstance(existing, TaskRegistry):
        return existing
    registry = TaskRegistry(
        config, max_finished=max_finished, shutdown_timeout=shutdown_timeout
    )
    setattr(app.state, STATE_ATTR, registry)
    setattr(app, APP_ATTR, registry)
    nested = _nest_inside(app.router.lifespan_context, registry)
    app.router.lifespan_context = cast(Any, nested)
    return registry


def get_registry(app: FastAPI) -> TaskRegistry:
    """The ``TaskRegistry`` of ``app`` (readable without a request)."""
    registry = getattr(app.state, STATE_ATTR, None)
    if not isinstance(registry, TaskRegistry):
        raise FastAPITasksUninitializedAppError()
    return registry


def get_scheduler(app: FastAPI) -> TasksScheduler:
    """A scheduler outside any request (``request_id`` is None; both batches start at once)."""
    return TasksScheduler(get_registry(app))
