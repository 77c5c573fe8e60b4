"""Calling a task function: async functions on the loop, sync functions in a worker thread."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread

__all__ = ["call_sync_or_async", "is_async_callable"]


def is_async_callable(func: Any) -> bool:
    """True for ``async def`` functions, partials of them and objects with an async ``__call__``."""
    if (
        isinstance(func, types.FunctionType)
        and func.__code__.co_flags & inspect.CO_COROUTINE
    ):
        return True  # a plain ``async def``: the common case, one flag test
    if inspect.iscoroutinefunction(func):  # unwraps partials and methods
        return True
    while isinstance(func, functools.partial):
        func = func.func
    call = getattr(func, "__call__", None)  # noqa: B004 - we need the bound __call__ itself
    return call is not None and inspect.iscoroutinefunction(call)


def call_sync_or_async(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: float | None,
) -> Awaitable[Any]:
    """Start ``func(*args, **kwargs)`` once, to be awaited: async on the loop, sync in a thread.

    With ``timeout``, the call is cancelled after that many seconds and ``TimeoutError`` is
    raised; a sync call's thread cannot be stopped, so it is abandoned (it finishes on its own).
    An async function without a timeout is returned as its own coroutine: no wrapper.
    """
    if not is_async_callable(func):
        return _in_thread(func, args, kwargs, timeout)
    if timeout is None:
        coro: Awaitable[Any] = func(*args, **kwargs)
        return coro
    return _with_timeout(func, args, kwargs, timeout)


async def _with_timeout(
    func: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: float,  # noqa: ASYNC109
) -> Any:
    with anyio.fail_after(timeout):
        return await func(*args, **kwargs)


async def _in_thread(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    timeout: float | None,  # noqa: ASYNC109
) -> Any:
    target = functools.partial(func, *args, **kwargs)
    if timeout is None:
        return await anyio.to_thread.run_sync(target)
    with anyio.fail_after(timeout):
        return await anyio.to_thread.run_sync(target, abandon_on_cancel=True)
