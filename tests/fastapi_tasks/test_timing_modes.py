"""Timing modes: start order, the after-route and after-response points, a raising endpoint."""

from typing import Annotated, Any

import anyio
import anyio.lowlevel
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.responses import StreamingResponse

from fastapi_tasks import (
    Task,
    Tasks,
    TasksScheduler,
    TaskState,
    add_tasks,
    get_scheduler,
)
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import call_asgi, lifespan_client

pytestmark = pytest.mark.anyio


async def test_start_order_is_immediate_then_after_route_then_after_response() -> None:
    app = FastAPI()
    add_tasks(app)
    started: list[str] = []

    async def record(label: str) -> None:
        started.append(label)

    @app.post("/orders")
    async def create(tasks: Tasks) -> dict[str, bool]:
        # Scheduled in reverse order on purpose: the mode decides, not the call order.
        tasks.after_response.schedule(record, "response-1")
        tasks.after_response.schedule(record, "response-2")
        tasks.after_route.schedule(record, "route-1")
        tasks.after_route.schedule(record, "route-2")
        tasks.schedule(record, "immediate")
        return {"ok": True}

    async with lifespan_client(app) as client:
        for _ in range(5):
            started.clear()
            assert (await client.post("/orders")).status_code == 200
            await wait_for_tasks(app, timeout=2)
            assert started == [
                "immediate",
                "route-1",
                "route-2",
                "response-1",
                "response-2",
            ]


async def test_after_route_is_handed_to_the_loop_before_the_response_starts() -> None:
    app = FastAPI()
    add_tasks(app)
    tasks_of_request: list[Task] = []

    async def noop() -> None:
        return None

    @app.get("/")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        tasks_of_request.append(tasks.after_route.schedule(noop))
        tasks_of_request.append(tasks.after_response.schedule(noop))
        return {"ok": True}

    seen_at_start: dict[str, Any] = {}

    async def on_message(message: dict[str, Any]) -> None:
        after_route, after_response = tasks_of_request
        if message["type"] == "http.response.start":
            # The after-route task must be able to start while the response waits here.
            with anyio.fail_after(2):
                await after_route.started.wait()
            seen_at_start["after_response_started"] = (
                after_response.started_at is not None
            )
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            seen_at_start["after_response_started_at_body"] = after_response.started_at

    async with LifespanManager(app):
        await call_asgi(app, "/", on_message=on_message)
        await wait_for_tasks(app, timeout=2)
        assert seen_at_start == {
            "after_response_started": False,
            "after_response_started_at_body": None,
        }
        assert [t.state for t in tasks_of_request] == [
            TaskState.SUCCEEDED,
            TaskState.SUCCEEDED,
        ]


async def test_after_response_starts_after_the_whole_streamed_body() -> None:
    app = FastAPI()
    add_tasks(app)
    body_done = anyio.Event()
    events: list[str] = []

    async def after() -> None:
        events.append(f"task (body done: {body_done.is_set()})")

    async def chunks() -> Any:
        for i in range(3):
            events.append(f"chunk {i}")
            yield f"{i}\n"

    @app.get("/stream")
    async def stream(tasks: Tasks) -> StreamingResponse:
        tasks.after_response.schedule(after)
        return StreamingResponse(chunks())

    def on_message(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body"):
            body_done.set()

    async with LifespanManager(app):
        await call_asgi(app, "/stream", on_message=on_message)
        await wait_for_tasks(app, timeout=2)
        assert events == ["chunk 0", "chunk 1", "chunk 2", "task (body done: True)"]


@pytest.mark.parametrize("error", ["http", "crash"])
async def test_raising_endpoint_starts_only_its_immediate_tasks(error: str) -> None:
    app = FastAPI()
    add_tasks(app)
    ran: list[str] = []
    scheduled: list[Task] = []

    async def record(label: str) -> None:
        ran.append(label)

    @app.get("/fail")
    async def fail(tasks: Tasks) -> None:
        scheduled.append(tasks.schedule(record, "immediate"))
        scheduled.append(tasks.after_route.schedule(record, "after_route"))
        scheduled.append(tasks.after_response.schedule(record, "after_response"))
        await anyio.lowlevel.checkpoint()
        if error == "http":
            raise HTTPException(status_code=409, detail="conflict")
        raise RuntimeError("endpoint crashed")

    async with lifespan_client(app) as client:
        if error == "http":
            assert (await client.get("/fail")).status_code == 409
        else:
            with pytest.raises(RuntimeError, match="endpoint crashed"):
                await client.get("/fail")
        await wait_for_tasks(app, timeout=2)
    assert ran == ["immediate"]
    immediate, after_route, after_response = scheduled
    assert immediate.state is TaskState.SUCCEEDED
    for task in (after_route, after_response):
        assert task.state is TaskState.CANCELLED
        assert task.started_at is None
        assert task.attempts == 0


async def test_tasks_in_routers_and_dependencies_share_the_request_scheduler() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api")
    seen: list[TasksScheduler] = []
    scheduled: list[Task] = []

    async def audit(tasks: Tasks) -> TasksScheduler:
        seen.append(tasks)
        return tasks

    async def noop() -> None:
        return None

    @router.post("/orders/{order_id}")
    async def create(
        order_id: int, tasks: Tasks, audited: Annotated[TasksScheduler, Depends(audit)]
    ) -> dict[str, Any]:
        seen.append(tasks)
        task = audited.after_response.schedule(noop)
        scheduled.append(task)
        return {"request_id": task.request_id, "route": task.route}

    app.include_router(router)
    add_tasks(app)
    async with lifespan_client(app) as client:
        first = (await client.post("/api/orders/1")).json()
        second = (await client.post("/api/orders/2")).json()
        await wait_for_tasks(app, timeout=2)
    assert seen[0] is seen[1]
    assert seen[2] is seen[3]
    assert seen[0] is not seen[2]
    assert first["route"] == second["route"] == "POST /api/orders/{order_id}"
    # One label string per route, not one per request kept alive by the task history.
    assert scheduled[0].route is scheduled[1].route
    assert isinstance(first["request_id"], int)
    assert second["request_id"] > first["request_id"]


async def test_scheduler_outside_requests_starts_everything_at_once() -> None:
    app = FastAPI()
    add_tasks(app)
    ran: list[str] = []

    async def record(label: str) -> None:
        ran.append(label)

    scheduler = get_scheduler(app)
    tasks = [
        scheduler.after_response.schedule(record, "a"),
        scheduler.after_route.schedule(record, "b"),
        scheduler.schedule(record, "c"),
    ]
    await wait_for_tasks(app, timeout=2)
    assert ran == ["a", "b", "c"]
    assert all(t.request_id is None and t.route is None for t in tasks)


async def test_after_route_scheduled_while_streaming_starts_at_once() -> None:
    app = FastAPI()
    add_tasks(app)
    late: list[Task] = []

    async def noop() -> None:
        return None

    @app.get("/stream")
    async def stream(tasks: Tasks) -> StreamingResponse:
        async def body() -> Any:
            yield "a"
            # The after-route point has passed: this starts at once instead of never.
            late.append(tasks.after_route.schedule(noop))
            yield "b"

        return StreamingResponse(body())

    async with LifespanManager(app):
        await call_asgi(app, "/stream")
        await wait_for_tasks(app, timeout=2)
        assert late[0].state is TaskState.SUCCEEDED
