"""Waiting for asynchronous outcomes: poll with a deadline, never sleep and hope."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import pytest

DEADLINE_S = 5.0

T = TypeVar("T")


async def poll(
    check: Callable[[], Awaitable[Any]], *, deadline_s: float = DEADLINE_S
) -> Any:
    """Call ``check`` until it returns something truthy; fail after the deadline."""
    with anyio.move_on_after(deadline_s):
        while True:
            if result := await check():
                return result
            await anyio.sleep(0.02)
    name = getattr(check, "__qualname__", repr(check))
    pytest.fail(f"{name} still false after {deadline_s} s")


async def within(awaitable: Awaitable[T], *, deadline_s: float = DEADLINE_S) -> T:
    """Await ``awaitable``; fail the test naming it after the deadline instead of hanging.

    A bug that leaves a wait unfinished then fails one test (and the run reaches its
    summary) rather than stopping the whole run at that line.
    """
    with anyio.move_on_after(deadline_s):
        return await awaitable
    pytest.fail(f"still waiting after {deadline_s} s: {awaitable!r}")
