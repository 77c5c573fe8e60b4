"""The published package's ``fastapi_tasks.tasks`` module: the same classes, re-exported."""

from fastapi_tasks.config import TaskConfig, TaskErrorHandler
from fastapi_tasks.scheduler import TasksBatch, TasksScheduler
from fastapi_tasks.task import Task

__all__ = ["Task", "TaskConfig", "TaskErrorHandler", "TasksBatch", "TasksScheduler"]
