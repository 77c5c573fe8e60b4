"""``Tasks``: the dependency an endpoint (or another dependency) declares as ``tasks: Tasks``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fastapi_tasks.errors import FastAPITasksUninitializedAppError
from fastapi_tasks.scheduler import SCOPE_KEY, TasksScheduler

__all__ = ["Tasks", "get_tasks"]


async def get_tasks(request: Request) -> TasksScheduler:
    """Return this request's ``TasksScheduler`` (one plain async dependency: no thread, no yield)."""
    scheduler: TasksScheduler | None = request.scope.get(SCOPE_KEY)
    if scheduler is None:
        raise FastAPITasksUninitializedAppError()
    if scheduler.request_id is None:
        scheduler._activate(request.scope)
    return scheduler


Tasks = Annotated[TasksScheduler, Depends(get_tasks)]
"""Declare ``tasks: Tasks`` in a path operation, a router's path operation or a dependency."""
