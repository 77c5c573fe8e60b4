"""Waiting for asynchronous outcomes: poll with a deadline, never sleep and hope."""

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

DEADLINE_S = 5.0


async def poll(
    check: Callable[[], Awaitable[Any]], *, deadline_s: float = DEADLINE_S
) -> Any:
    """Call ``check`` until it returns something truthy; fail after the deadline."""
    with anyio.fail_after(deadline_s):
        while True:
            if result := await check():
                return result
            await anyio.sleep(0.02)
