"""Errors raised by fastapi_tasks.

Hierarchy::

    Exception
    └── FastAPITasksError                    base class of every error of this package
        └── FastAPITasksUninitializedAppError  ``Tasks`` used on an app without ``add_tasks(app)``
"""

from __future__ import annotations

__all__ = ["FastAPITasksError", "FastAPITasksUninitializedAppError"]


class FastAPITasksError(Exception):
    """Base class of every error raised by fastapi_tasks."""


class FastAPITasksUninitializedAppError(FastAPITasksError):
    """Raised when ``Tasks`` is used on an app where ``add_tasks(app)`` was not called."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "fastapi_tasks is not installed on this app: call add_tasks(app) "
            "once, right after creating the FastAPI app, before using `tasks: Tasks`."
        )
