"""``Tasks``: the dependency an endpoint (or another dependency) declares as ``tasks: Tasks``.

``add_tasks`` is re-exported here too: the published package's layout has both in this module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fastapi_tasks.errors import FastAPITasksUninitializedAppError
from fastapi_tasks.lifespan import APP_ATTR, add_tasks
from fastapi_tasks.scheduler import TasksScheduler, new_request_scheduler

__all__ = ["Tasks", "add_tasks", "get_tasks"]


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
