"""The two start points of a request, found on FastAPI's exit stacks (internal scope keys).

FastAPI (>= 0.121) keeps two ``AsyncExitStack``s in the scope of every route call:
``fastapi_function_astack``, closed once the endpoint and its function-scoped dependencies
returned or raised (before the response is sent), and ``fastapi_inner_astack``, closed after
the response was sent (or sending failed, e.g. the client went away). One hook pushed on
both marks both points: its first exit is "after route", its second "after response"
(``TasksScheduler`` is that hook).

These keys are not public API: this module is the only place that reads them. Without
them (not inside a FastAPI route, or a FastAPI that renamed them) ``watch_request_stages``
returns False and the caller starts deferred tasks at once: late, never lost
(``test_without_fastapis_exit_stacks_deferred_tasks_start_at_once``).

Why not the public ``Depends(..., scope="function")``: the two stages need a request-scoped
and a function-scoped generator dependency, and that pair alone costs more than the whole
per-request budget of ``Tasks``. Measured over uvicorn (``python -m bench --variants
depends,depends-scoped,...``, 7 interleaved rounds, server CPU per request): one trivial
``async def`` dependency 70 µs, the public pair 111 µs (x1.62); the bar allows ``Tasks``
x1.08 of the trivial dependency, and with this hook it measures x1.04..1.05
(``make bench-library``, 11 rounds, two runs; per-round range 0.88..1.15).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import AbstractContextManager, AsyncExitStack
from typing import Any, Protocol, cast

__all__ = [
    "FUNCTION_STACK_KEY",
    "REQUEST_STACK_KEY",
    "StageHook",
    "watch_request_stages",
]

FUNCTION_STACK_KEY = "fastapi_function_astack"
REQUEST_STACK_KEY = "fastapi_inner_astack"


class StageHook(Protocol):
    """What ``watch_request_stages`` pushes: an object with a context manager's ``__exit__``."""

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: object, tb: object, /
    ) -> None: ...


def watch_request_stages(scope: MutableMapping[str, Any], hook: StageHook) -> bool:
    """Have ``hook.__exit__`` called at this request's two points, with the exception if any.

    The first call comes when the endpoint returned (``exc_type`` None) or raised, the second
    once the response was sent. Returns False (and pushes nothing) when the scope has no
    FastAPI exit stacks. Must be called
    while dependencies are being solved: only a hook pushed then runs after the teardown of
    function-scoped dependencies resolved later, and a later push could land on a stack that
    is already closed (and never run).
    """
    function_stack: AsyncExitStack | None = scope.get(FUNCTION_STACK_KEY)
    request_stack: AsyncExitStack | None = scope.get(REQUEST_STACK_KEY)
    if function_stack is None or request_stack is None:
        return False
    # Pushed as a context manager: the cheapest kind to push, and ``push`` looks up only its
    # ``__exit__`` (it is never entered).
    exit_hook = cast("AbstractContextManager[None]", hook)
    function_stack.push(exit_hook)
    request_stack.push(exit_hook)
    return True
