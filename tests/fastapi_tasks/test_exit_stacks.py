"""FastAPI's internal exit-stack scope keys: still there, and the fallback when they are not."""

from contextlib import AsyncExitStack, nullcontext
from typing import Any

import pytest
from fastapi import FastAPI, Request

from fastapi_tasks import TaskMode, TaskState, add_tasks, get_registry
from fastapi_tasks.exit_stacks import (
    FUNCTION_STACK_KEY,
    REQUEST_STACK_KEY,
    watch_request_stages,
)
from fastapi_tasks.scheduler import TasksScheduler
from tests.fastapi_tasks.support import lifespan_client
from tests.polling import within

pytestmark = pytest.mark.anyio


async def test_fastapi_still_puts_both_exit_stacks_in_a_routes_scope() -> None:
    """A canary: if FastAPI renames its keys, this fails before the fallback hides it."""
    app = FastAPI()
    seen: dict[str, Any] = {}

    @app.get("/probe")
    async def probe(request: Request) -> None:
        seen.update(request.scope)

    async with lifespan_client(app) as client:
        assert (await client.get("/probe")).status_code == 200
    assert isinstance(seen[FUNCTION_STACK_KEY], AsyncExitStack)
    assert isinstance(seen[REQUEST_STACK_KEY], AsyncExitStack)
    assert seen[FUNCTION_STACK_KEY] is not seen[REQUEST_STACK_KEY]


class RecordingHook:
    """A stage hook that writes down each call of its ``__exit__``."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.calls = 0

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self.calls += 1
        if self.calls == 1:
            self.events.append(f"endpoint returned, ok={exc_type is None}")
        else:
            self.events.append("response sent")


async def test_the_hook_reports_both_stages_in_order_and_whether_the_endpoint_raised() -> (
    None
):
    events: list[str] = []
    for fail in (False, True):
        scope: dict[str, Any] = {}
        async with AsyncExitStack() as request_stack:
            scope[REQUEST_STACK_KEY] = request_stack
            with pytest.raises(RuntimeError) if fail else nullcontext():
                async with AsyncExitStack() as function_stack:
                    scope[FUNCTION_STACK_KEY] = function_stack
                    assert watch_request_stages(scope, RecordingHook(events))
                    if fail:
                        raise RuntimeError("endpoint failed")
            events.append("sending")
    assert events == [
        "endpoint returned, ok=True",
        "sending",
        "response sent",
        "endpoint returned, ok=False",
        "sending",
        "response sent",
    ]


async def test_without_fastapis_exit_stacks_deferred_tasks_start_at_once() -> None:
    app = FastAPI()
    add_tasks(app)
    ran: list[str] = []

    async def record(label: str) -> None:
        ran.append(label)

    async with lifespan_client(app):
        # A scope without FastAPI's stacks (not a route, or a FastAPI that renamed them).
        scope = {"type": "http", "method": "GET", "path": "/elsewhere"}
        hook = RecordingHook([])
        assert not watch_request_stages(scope, hook)
        assert hook.calls == 0
        scheduler = TasksScheduler(get_registry(app), scope)
        route_task = scheduler.after_route.schedule(record, "after_route")
        response_task = scheduler.after_response.schedule(record, "after_response")
        await within(route_task.wait())
        await within(response_task.wait())
    assert ran == ["after_route", "after_response"]
    assert route_task.mode is TaskMode.AFTER_ROUTE
    assert response_task.state is TaskState.SUCCEEDED
