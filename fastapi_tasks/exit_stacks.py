"""The two start points of a request, found on FastAPI's exit stacks (internal scope keys).

FastAPI (>= 0.121) keeps two ``AsyncExitStack``s in the scope of every route call:
``fastapi_function_astack``, closed once the endpoint and its function-scoped dependencies
returned or raised (before the response is sent), and ``fastapi_inner_astack``, closed after
the response was sent (or sending failed, e.g. the client went away). One hook pushed on
both marks both points: its first exit is "after route", its second "after response".

These keys are not public API: this module is the only place that reads them. Without
them (not inside a FastAPI route, or a FastAPI that renamed them) ``watch_request_stages``
returns False and the caller starts deferred tasks at once: late, never lost
(``test_without_fastapis_exit_stacks_deferred_tasks_start_at_once``).

Why not the public ``Depends(..., scope="function")``: the two stages need a request-scoped
and a function-scoped generator dependency, and that pair alone costs more than the whole
per-request budget of ``Tasks``. Measured over uvicorn (``python -m bench --variants
depends,depends-scoped,...``, 7 interleaved rounds, server CPU per request): one trivial
``async def`` dependency 70 µs, the public pair 111 µs (x1.62); the bar allows ``Tasks``
x1.08 of the trivial dependency, and with this hook it measures x1.08 (``make bench``,
11 rounds: 1.00..1.12).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from contextlib import AsyncExitStack
from typing import Any

__all__ = ["FUNCTION_STACK_KEY", "REQUEST_STACK_KEY", "watch_request_stages"]

FUNCTION_STACK_KEY = "fastapi_function_astack"
REQUEST_STACK_KEY = "fastapi_inner_astack"


class _StageHook:
    """Pushed on both stacks: first exit = endpoint returned (or raised), second = response sent."""

    __slots__ = ("endpoint_returned", "response_sent", "route_done")

    def __init__(
        self,
        endpoint_returned: Callable[[bool], None],
        response_sent: Callable[[], None],
    ) -> None:
        self.endpoint_returned = endpoint_returned
        self.response_sent = response_sent
        self.route_done = False

    def __enter__(
        self,
    ) -> _StageHook:  # never entered: ``push`` only needs ``__exit__``
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if self.route_done:
            self.response_sent()
        else:
            self.route_done = True
            self.endpoint_returned(exc_type is None)


def watch_request_stages(
    scope: MutableMapping[str, Any],
    endpoint_returned: Callable[[bool], None],
    response_sent: Callable[[], None],
) -> bool:
    """Call ``endpoint_returned(ok)``, then ``response_sent()``, at this request's two points.

    Returns False (and calls nothing) when the scope has no FastAPI exit stacks. Must be called
    while dependencies are being solved: only a hook pushed then runs after the teardown of
    function-scoped dependencies resolved later, and a later push could land on a stack that
    is already closed (and never run).
    """
    function_stack: AsyncExitStack | None = scope.get(FUNCTION_STACK_KEY)
    request_stack: AsyncExitStack | None = scope.get(REQUEST_STACK_KEY)
    if function_stack is None or request_stack is None:
        return False
    hook = _StageHook(endpoint_returned, response_sent)
    # Pushed as a context manager (an object with ``__exit__``): the cheapest kind to push.
    function_stack.push(hook)
    request_stack.push(hook)
    return True
