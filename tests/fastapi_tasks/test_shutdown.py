"""Shielding and shutdown: drain inside the app's lifespan, cancellation, drain timeout."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fastapi import FastAPI, Request

from fastapi_tasks import Task, Tasks, TaskState, add_tasks, get_registry, get_scheduler
from tests.fastapi_tasks.support import lifespan_client
from tests.polling import within

pytestmark = pytest.mark.anyio


class Resource:
    """Stands in for the app's DB engine / HTTP client."""

    def __init__(self) -> None:
        self.open = False


def app_with_resource(**add_tasks_kwargs: Any) -> tuple[FastAPI, Resource, list[str]]:
    resource = Resource()
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        resource.open = True
        events.append("app startup")
        yield {"resource": resource}
        events.append("app teardown")
        resource.open = False

    app = FastAPI(lifespan=lifespan)
    add_tasks(app, **add_tasks_kwargs)
    return app, resource, events


async def test_shielded_task_finds_the_apps_resources_open_until_it_finishes() -> None:
    app, _resource, events = app_with_resource()
    release = anyio.Event()
    scheduled: list[Task] = []

    async def charge(resource: Resource) -> None:
        events.append(f"task started, resource open: {resource.open}")
        await release.wait()
        await anyio.lowlevel.checkpoint()
        events.append(f"task finishing, resource open: {resource.open}")

    @app.post("/pay")
    async def pay(request: Request, tasks: Tasks) -> dict[str, bool]:
        # The lifespan's dict reaches request.state through our nested lifespan.
        res = request.state.resource
        scheduled.append(
            tasks.task(name="orders.charge", shield=True).schedule(charge, res)
        )
        return {"ok": True}

    async with anyio.create_task_group() as tg, lifespan_client(app) as client:
        assert (await client.post("/pay")).status_code == 200
        with anyio.fail_after(2):
            await scheduled[0].started.wait()
        # Shutdown begins while the shielded task still runs; it is released only then.
        tg.start_soon(_release_when_shutting_down, app, release)
    assert events == [
        "app startup",
        "task started, resource open: True",
        "task finishing, resource open: True",
        "app teardown",
    ]
    assert scheduled[0].state is TaskState.SUCCEEDED


async def _release_when_shutting_down(app: FastAPI, release: anyio.Event) -> None:
    registry = get_registry(app)
    with anyio.fail_after(2):
        while not registry.closing:  # a flag, polled with a deadline
            await anyio.lowlevel.checkpoint()
    release.set()


async def test_shutdown_cancels_non_shielded_tasks_and_waits_for_shielded() -> None:
    app, _resource, events = app_with_resource()
    scheduled: dict[str, Task] = {}
    cancelled = anyio.Event()

    async def forever() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    async def short() -> None:
        await cancelled.wait()  # finishes only after the other one was cancelled
        events.append("shielded done")

    @app.post("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        scheduled["plain"] = tasks.task(name="plain").schedule(forever)
        scheduled["shielded"] = tasks.task(name="shielded", shield=True).schedule(short)
        scheduled["pending"] = tasks.after_response.task(
            name="late", shield=False
        ).schedule(forever)
        return {"ok": True}

    async with lifespan_client(app) as client:
        await client.post("/work")
        with anyio.fail_after(2):
            await scheduled["plain"].started.wait()
            await scheduled["pending"].started.wait()
    assert scheduled["plain"].state is TaskState.CANCELLED
    assert scheduled["pending"].state is TaskState.CANCELLED
    assert scheduled["shielded"].state is TaskState.SUCCEEDED
    assert events[-2:] == ["shielded done", "app teardown"]
    assert get_registry(app).counters.cancelled == 2


async def test_drain_timeout_cancels_shielded_tasks_with_a_warning_naming_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _resource, events = app_with_resource(shutdown_timeout=0.1)
    scheduled: list[Task] = []

    async def stuck() -> None:
        await anyio.sleep_forever()

    @app.post("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        scheduled.append(
            tasks.task(name="images.make_thumbnail", shield=True).schedule(stuck)
        )
        return {"ok": True}

    caplog.set_level(logging.WARNING, logger="fastapi_tasks")
    async with lifespan_client(app) as client:
        await client.post("/work")
        with anyio.fail_after(2):
            await scheduled[0].started.wait()
    assert scheduled[0].state is TaskState.CANCELLED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "images.make_thumbnail" in warnings[0].getMessage()
    assert events[-1] == "app teardown"


async def test_nothing_scheduled_after_shutdown_runs_unless_shielded() -> None:
    app, _resource, _events = app_with_resource()
    ran: list[str] = []

    async def record(label: str) -> None:
        ran.append(label)

    async with lifespan_client(app):
        pass
    registry = get_registry(app)
    registry._closing = True  # as during a drain

    scheduler = get_scheduler(app)
    plain = scheduler.schedule(record, "plain")
    shielded = scheduler.task(shield=True).schedule(record, "shielded")
    await within(shielded.wait())
    assert plain.state is TaskState.CANCELLED
    assert ran == ["shielded"]


async def test_shielded_deferred_task_of_a_request_in_flight_at_shutdown_still_runs() -> (
    None
):
    app, resource, events = app_with_resource()
    release = anyio.Event()
    entered = anyio.Event()
    scheduled: list[Task] = []

    async def notify(label: str) -> None:
        events.append(f"{label}, resource open: {resource.open}")

    @app.post("/slow")
    async def slow(tasks: Tasks) -> dict[str, bool]:
        scheduled.append(
            tasks.after_response.task(shield=True).schedule(notify, "shielded")
        )
        scheduled.append(tasks.after_response.schedule(notify, "plain"))
        entered.set()
        await release.wait()  # still in flight when shutdown begins
        return {"ok": True}

    async with anyio.create_task_group() as tg, lifespan_client(app) as client:
        tg.start_soon(client.post, "/slow")
        with anyio.fail_after(2):
            await entered.wait()
        tg.start_soon(_release_when_shutting_down, app, release)
    assert scheduled[0].state is TaskState.SUCCEEDED
    assert scheduled[1].state is TaskState.CANCELLED
    assert events == ["app startup", "shielded, resource open: True", "app teardown"]
