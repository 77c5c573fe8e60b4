"""The app-wide default ``on_error``: one line with ids, names and types, never arguments."""

import logging
from typing import Any

from fastapi_tasks import Task

logger = logging.getLogger("app.tasks")


async def log_task_failure(task: Task, error: Exception) -> None:
    """Log a task failure that no task-specific handler took care of.

    Only the task's name, mode, attempts and the exception type: argument values carry
    payment tokens, passwords and e-mail addresses.
    """
    extra: dict[str, Any] = {"task_id": getattr(task, "id", None)}
    logger.warning(
        "task %s (%s) gave up after %d attempt(s): %s",
        task.name,
        task.mode,
        task.attempts,
        type(error).__name__,
        extra=extra,
    )
