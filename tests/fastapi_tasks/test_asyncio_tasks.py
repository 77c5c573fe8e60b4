"""Each task runs in an asyncio task of its own (``asyncio.Task``, or the loop's task factory)."""

import asyncio
import gc
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fastapi import FastAPI

from fastapi_tasks import Task, Tasks, add_tasks
from fastapi_tasks.registry import TaskRegistry
from fastapi_tasks.scheduler import TasksScheduler
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import lifespan_client

pytestmark = pytest.mark.anyio


def _asyncio_tasks_named(name: str) -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t.get_name() == name}


async def test_each_task_gets_its_own_asyncio_task_and_context() -> None:
    app = FastAPI()
    add_tasks(app)
    seen: list[tuple[asyncio.Task[object] | None, str]] = []

    async def record(label: str) -> None:
        seen.append((asyncio.current_task(), label))

    @app.get("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        tasks.schedule(record, "immediate")
        tasks.after_route.schedule(record, "after_route")
        tasks.after_response.schedule(record, "after_response")
        return {"ok": True}

    async with lifespan_client(app) as client:
        for _ in range(2):
            assert (await client.get("/work")).status_code == 200
        await wait_for_tasks(app, timeout=5)
    assert [label for _, label in seen] == [
        "immediate",
        "after_route",
        "after_response",
    ] * 2
    assert len({id(atask) for atask, _ in seen}) == 6


async def test_a_suspended_task_does_not_hold_up_the_next_one() -> None:
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
            await quick_ran.wait()  # while ``slow`` still waits
        assert ran == ["quick"]
        release.set()
        await wait_for_tasks(app, timeout=5)
        assert ran == ["quick", "slow"]


async def test_no_asyncio_task_is_left_after_shutdown() -> None:
    app = FastAPI()
    add_tasks(app)
    started = anyio.Event()
    scheduled: list[Task] = []

    async def hangs() -> None:
        started.set()
        await anyio.sleep_forever()

    @app.get("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        scheduled.append(tasks.task(name="hangs").schedule(hangs))
        return {"ok": True}

    async with lifespan_client(app) as client:
        await client.get("/work")
        with anyio.fail_after(2):
            await started.wait()
        assert len(_asyncio_tasks_named("hangs")) == 1
    # Shutdown cancelled it: its asyncio task ends within a few loop iterations.
    for _ in range(100):
        if not _asyncio_tasks_named("hangs"):
            break
        await anyio.lowlevel.checkpoint()
    assert not _asyncio_tasks_named("hangs")
    assert scheduled[0].done


def test_registry_used_from_two_event_loops_one_after_another() -> None:
    """Nothing of a finished loop is used from the next one."""
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


async def test_a_request_with_tasks_leaves_no_reference_cycle_behind() -> None:
    """Everything of a request is freed by reference counting, not left to the collector.

    A cycle per request (the scheduler once kept its two batches, which refer back to it)
    made the garbage collector run every few hundred requests: ~3 µs per request.
    """
    app = FastAPI()
    add_tasks(app)

    async def noop() -> None:
        return None

    @app.get("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        tasks.schedule(noop)
        tasks.after_route.schedule(noop)
        tasks.after_response.schedule(noop)
        return {"ok": True}

    async with lifespan_client(app) as client:
        assert (await client.get("/work")).status_code == 200  # warm-up
        await wait_for_tasks(app, timeout=5)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(5):
                assert (await client.get("/work")).status_code == 200
            await wait_for_tasks(app, timeout=5)
            gc.collect()
            ours = [
                type(obj).__qualname__
                for obj in gc.garbage
                if type(obj).__module__.startswith("fastapi_tasks")
            ]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert ours == []


async def test_a_task_factory_set_on_the_loop_builds_every_tasks_asyncio_task() -> None:
    """Tasks are built as ``asyncio.Task`` directly only when the loop has no task factory."""
    app = FastAPI()
    add_tasks(app)
    built: list[asyncio.Task[Any]] = []
    ran: list[str] = []

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
        built.append(task)
        return task

    async def record(label: str) -> None:
        ran.append(label)

    @app.get("/work")
    async def work(tasks: Tasks) -> dict[str, bool]:
        tasks.task(name="now").schedule(record, "immediate")
        tasks.after_route.task(name="route").schedule(record, "after_route")
        tasks.after_response.task(name="response").schedule(record, "after_response")
        return {"ok": True}

    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(factory)
    try:
        async with lifespan_client(app) as client:
            assert (await client.get("/work")).status_code == 200
            await wait_for_tasks(app)
    finally:
        loop.set_task_factory(previous)
    assert ran == ["immediate", "after_route", "after_response"]
    # The factory also built the client's and the server's own tasks: keep ours.
    names = [task.get_name() for task in built]
    assert [name for name in names if name in {"now", "route", "response"}] == [
        "now",
        "route",
        "response",
    ]
