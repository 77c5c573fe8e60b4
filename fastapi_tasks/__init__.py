"""fastapi_tasks: background tasks for FastAPI with three timing modes, shielding and more.

``add_tasks(app)`` once, then declare ``tasks: Tasks`` and call ``tasks.schedule(fn, ...)``,
``tasks.after_route.schedule(...)`` or ``tasks.after_response.schedule(...)``.
"""

from fastapi_tasks import errors
from fastapi_tasks.config import TaskConfig, TaskErrorHandler
from fastapi_tasks.dependencies import Tasks
from fastapi_tasks.errors import FastAPITasksError, FastAPITasksUninitializedAppError
from fastapi_tasks.lifespan import add_tasks, get_registry, get_scheduler
from fastapi_tasks.registry import TaskCounters, TaskRegistry
from fastapi_tasks.scheduler import (
    ConfiguredScheduler,
    TaskBatch,
    TasksBatch,
    TasksScheduler,
)
from fastapi_tasks.task import Task, TaskMode, TaskState

__all__ = [
    "ConfiguredScheduler",
    "FastAPITasksError",
    "FastAPITasksUninitializedAppError",
    "Task",
    "TaskBatch",
    "TaskConfig",
    "TaskCounters",
    "TaskErrorHandler",
    "TaskMode",
    "TaskRegistry",
    "TaskState",
    "Tasks",
    "TasksBatch",
    "TasksScheduler",
    "add_tasks",
    "errors",
    "get_registry",
    "get_scheduler",
]
