"""Calling a task function: async functions on the loop, sync functions in a worker thread."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["call_sync_or_async", "is_async_callable"]


def is_async_callable(func: Any) -> bool:
    """True for ``async def`` functions, partials of them and objects with an async ``__call__``."""
    while isinstance(func, functools.partial):
        func = func.func
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - we need the bound __call__ itself
    return call is not None and inspect.iscoroutinefunction(call)


async def call_sync_or_async(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: float | None,  # noqa: ASYNC109 - per-task setting, applied with fail_after
) -> Any:
    """Run ``func(*args, **kwargs)`` once: awaited if async, else in a worker thread.

    With ``timeout``, the call is cancelled after that many seconds and ``TimeoutError`` is
    raised; a sync call's thread cannot be stopped, so it is abandoned (it finishes on its own).
    """
    if is_async_callable(func):
        if timeout is None:
            return await func(*args, **kwargs)
        with anyio.fail_after(timeout):
            return await func(*args, **kwargs)
    target = functools.partial(func, *args, **kwargs) if kwargs else func
    if timeout is None:
        return await anyio.to_thread.run_sync(target, *(() if kwargs else args))
    with anyio.fail_after(timeout):
        return await anyio.to_thread.run_sync(
            target, *(() if kwargs else args), abandon_on_cancel=True
        )
