"""Test helpers: wait for an app's tasks instead of sleeping."""

from __future__ import annotations

from fastapi import FastAPI

from fastapi_tasks.lifespan import get_registry

__all__ = ["wait_for_tasks"]


async def wait_for_tasks(app: FastAPI, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until no task of ``app`` is pending or running.

    Raises ``TimeoutError`` naming the unfinished tasks if that takes longer than ``timeout``.
    """
    registry = get_registry(app)
    if not await registry.wait_idle(timeout):
        names = ", ".join(f"{t.name!r} ({t.state.value})" for t in registry.running)
        raise TimeoutError(f"tasks still unfinished after {timeout}s: {names}")
