"""The dispatcher's idle worker: reused across requests, gone after shutdown, loop-safe."""

import asyncio

import anyio
import anyio.lowlevel
import pytest
from fastapi import FastAPI

from fastapi_tasks import Tasks, add_tasks, get_registry
from fastapi_tasks.registry import TaskRegistry
from fastapi_tasks.scheduler import TasksScheduler
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import lifespan_client

pytestmark = pytest.mark.anyio


def _workers() -> set[asyncio.Task[object]]:
    """The dispatcher's asyncio tasks currently alive on this loop."""
    return {
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "") == "dispatch"
    }


def _app(ran: list[str]) -> FastAPI:
    app = FastAPI()
    add_tasks(app)

    async def record(label: str) -> None:
        ran.append(label)

    @app.get("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        tasks.schedule(record, "immediate")
        tasks.after_route.schedule(record, "after_route")
        tasks.after_response.schedule(record, "after_response")
        return {"ok": True}

    return app


async def test_short_tasks_of_many_requests_share_one_idle_worker() -> None:
    ran: list[str] = []
    app = _app(ran)
    async with lifespan_client(app) as client:
        seen: set[asyncio.Task[object]] = set()
        for _ in range(20):
            assert (await client.get("/work")).status_code == 200
            await wait_for_tasks(app, timeout=5)
            seen |= _workers()
        assert len(seen) == 1
        assert ran == ["immediate", "after_route", "after_response"] * 20
        assert get_registry(app).counters.succeeded == 60


async def test_a_suspended_task_keeps_its_worker_and_others_still_run() -> None:
    app = FastAPI()
    add_tasks(app)
    release = anyio.Event()
    quick_ran = anyio.Event()
    ran: list[str] = []

    async def slow() -> None:
        await release.wait()
        ran.append("slow")

    async def quick() -> None:
        ran.append("quick")
        quick_ran.set()

    @app.get("/slow")
    async def slow_endpoint(tasks: Tasks) -> None:
        tasks.schedule(slow)

    @app.get("/quick")
    async def quick_endpoint(tasks: Tasks) -> None:
        tasks.schedule(quick)

    async with lifespan_client(app) as client:
        await client.get("/slow")
        await client.get("/quick")
        with anyio.fail_after(5):
            await quick_ran.wait()  # while ``slow`` still holds the first worker
        assert ran == ["quick"]
        release.set()
        await wait_for_tasks(app, timeout=5)
        assert ran == ["quick", "slow"]


async def test_no_worker_is_left_after_shutdown() -> None:
    app = _app([])
    async with lifespan_client(app) as client:
        await client.get("/work")
        await wait_for_tasks(app, timeout=5)
        assert len(_workers()) == 1  # the idle one
    # Shutdown cancelled the idle worker's wait: it ends within a few loop iterations.
    for _ in range(100):
        if not _workers():
            break
        await anyio.lowlevel.checkpoint()
    assert not _workers()


def test_registry_used_from_two_event_loops_one_after_another() -> None:
    """An idle worker of a finished loop is never woken from the next one."""
    registry = TaskRegistry()
    ran: list[int] = []

    async def record(i: int) -> None:
        ran.append(i)

    async def round_(i: int) -> None:
        TasksScheduler(registry).schedule(record, i)
        assert await registry.wait_idle(5)

    # No lifespan around these: the registry is never told that the loop changed.
    asyncio.run(round_(1))
    asyncio.run(round_(2))
    assert ran == [1, 2]
