"""``Tasks``: the dependency an endpoint (or another dependency) declares as ``tasks: Tasks``.

``add_tasks`` is re-exported here too: the published package's layout has both in this module.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fastapi_tasks.errors import FastAPITasksUninitializedAppError
from fastapi_tasks.lifespan import APP_ATTR, add_tasks
from fastapi_tasks.registry import TaskRegistry
from fastapi_tasks.scheduler import TasksScheduler

__all__ = ["LIFESPAN_NOT_RUN", "Tasks", "add_tasks", "get_tasks"]

LIFESPAN_NOT_RUN = (
    "fastapi_tasks: this app's lifespan has not run, so its tasks would never be drained at "
    "shutdown. Run the app with its lifespan: in tests, `with TestClient(app) as client:` or "
    "`async with LifespanManager(app) as manager:` (asgi-lifespan) around "
    "`httpx.ASGITransport(app=manager.app)`; servers such as uvicorn run it unless told "
    "not to (`--lifespan off`)."
)


async def get_tasks(request: Request) -> TasksScheduler:
    """Return this request's ``TasksScheduler``.

    Raises ``FastAPITasksUninitializedAppError`` if ``add_tasks(app)`` was not called or the
    app's lifespan never ran.

    One plain ``async def`` dependency (no worker thread, no generator): cheap to declare.
    FastAPI caches it per request, so every ``tasks: Tasks`` of one request shares it.
    """
    scope = request.scope
    registry: TaskRegistry | None = getattr(scope["app"], APP_ATTR, None)
    if registry is None:
        raise FastAPITasksUninitializedAppError()
    if not registry.lifespan_started:
        raise FastAPITasksUninitializedAppError(LIFESPAN_NOT_RUN)
    return TasksScheduler(registry, scope)


Tasks = Annotated[TasksScheduler, Depends(get_tasks)]
"""Declare ``tasks: Tasks`` in a path operation, a router's path operation or a dependency."""
