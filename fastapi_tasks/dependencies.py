"""``Tasks``: the dependency an endpoint (or another dependency) declares as ``tasks: Tasks``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fastapi_tasks.errors import FastAPITasksUninitializedAppError
from fastapi_tasks.scheduler import TasksScheduler, new_request_scheduler

__all__ = ["APP_ATTR", "STATE_KEY", "Tasks", "get_tasks"]

STATE_KEY = "fastapi_tasks"
# The registry is also kept as a plain attribute of the app object: reading it costs a fraction
# of a ``State`` lookup, and this runs on every request that declares ``tasks: Tasks``.
APP_ATTR = "_fastapi_tasks_registry"


async def get_tasks(request: Request) -> TasksScheduler:
    """Return this request's ``TasksScheduler``.

    One plain ``async def`` dependency (no worker thread, no generator): cheap to declare.
    FastAPI caches it per request, so every ``tasks: Tasks`` of one request shares it.
    """
    scope = request.scope
    registry = getattr(scope["app"], APP_ATTR, None)
    if registry is None:
        raise FastAPITasksUninitializedAppError()
    return new_request_scheduler(registry, scope)


Tasks = Annotated[TasksScheduler, Depends(get_tasks)]
"""Declare ``tasks: Tasks`` in a path operation, a router's path operation or a dependency."""
