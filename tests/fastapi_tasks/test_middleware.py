"""Middleware-proof: BaseHTTPMiddleware, client disconnects, Response(background=...)."""

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from asgi_lifespan import LifespanManager
from fastapi import BackgroundTasks, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.middleware.base import BaseHTTPMiddleware

from fastapi_tasks import Task, Tasks, TaskState, add_tasks
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import call_asgi, lifespan_client

pytestmark = pytest.mark.anyio


class Passthrough(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers["x-seen"] = "1"
        return response


@pytest.mark.parametrize("middleware_first", [True, False])
async def test_base_http_middleware_does_not_delay_the_response(
    middleware_first: bool,
) -> None:
    app = FastAPI()
    if middleware_first:
        app.add_middleware(Passthrough)
        add_tasks(app)
    else:
        add_tasks(app)
        app.add_middleware(Passthrough)
    release = anyio.Event()
    scheduled: list[Task] = []

    async def blocked() -> None:
        await release.wait()

    @app.post("/x")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        scheduled.append(tasks.schedule(blocked))
        scheduled.append(tasks.after_route.schedule(blocked))
        scheduled.append(tasks.after_response.schedule(blocked))
        return {"ok": True}

    async with lifespan_client(app) as client:
        with anyio.fail_after(2):  # would hang if the response waited for the tasks
            response = await client.post("/x")
        assert response.status_code == 200
        assert response.headers["x-seen"] == "1"
        with anyio.fail_after(2):
            for task in scheduled:
                await task.started.wait()  # all three started, none finished
        assert all(t.state is TaskState.RUNNING for t in scheduled)
        release.set()
        await wait_for_tasks(app, timeout=2)


@pytest.mark.parametrize("how", ["send_fails", "disconnect_message"])
async def test_after_response_starts_when_the_client_disconnects_mid_stream(
    how: str,
) -> None:
    app = FastAPI()
    add_tasks(app)
    scheduled: list[Task] = []
    gone = anyio.Event()
    chunks_sent = 0

    async def cleanup() -> None:
        return None

    @app.get("/stream")
    async def stream(tasks: Tasks) -> StreamingResponse:
        scheduled.append(tasks.after_response.schedule(cleanup))

        async def body() -> Any:
            for i in range(1000):
                yield f"chunk {i}\n"
                await anyio.lowlevel.checkpoint()

        return StreamingResponse(body())

    def on_message(message: dict[str, Any]) -> None:
        nonlocal chunks_sent
        if message["type"] == "http.response.body":
            chunks_sent += 1
            if chunks_sent == 2:
                gone.set()
                if how == "send_fails":
                    raise OSError("connection reset by peer")

    async with LifespanManager(app):
        with anyio.fail_after(3), contextlib.suppress(Exception):
            await call_asgi(app, "/stream", on_message=on_message, disconnect=gone)
        assert chunks_sent < 1000  # the stream really was cut short
        await wait_for_tasks(app, timeout=2)
        assert scheduled[0].state is TaskState.SUCCEEDED


async def test_after_response_starts_with_the_endpoints_own_background() -> None:
    app = FastAPI()
    add_tasks(app)
    events: list[str] = []

    async def own_background() -> None:
        events.append("response background")

    async def fastapi_background() -> None:
        events.append("BackgroundTasks")

    async def ours() -> None:
        events.append("after_response")

    @app.get("/own")
    async def own(tasks: Tasks) -> Response:
        tasks.after_response.schedule(ours)
        return Response("done", background=BackgroundTask(own_background))

    @app.get("/param")
    async def param(tasks: Tasks, background: BackgroundTasks) -> dict[str, bool]:
        background.add_task(fastapi_background)
        tasks.after_response.schedule(ours)
        return {"ok": True}

    async with lifespan_client(app) as client:
        assert (await client.get("/own")).text == "done"
        await wait_for_tasks(app, timeout=2)
        assert sorted(events) == ["after_response", "response background"]
        events.clear()
        assert (await client.get("/param")).status_code == 200
        await wait_for_tasks(app, timeout=2)
        assert sorted(events) == ["BackgroundTasks", "after_response"]
