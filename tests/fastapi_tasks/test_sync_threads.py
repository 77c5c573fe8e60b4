"""Sync functions run in worker threads; sync endpoints can schedule."""

import threading

import anyio
import pytest
from fastapi import FastAPI

from fastapi_tasks import Tasks, TaskState, add_tasks, get_registry, get_scheduler
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import lifespan_client
from tests.polling import within

pytestmark = pytest.mark.anyio


async def test_sync_task_runs_in_a_worker_thread_not_the_loop_thread() -> None:
    app = FastAPI()
    add_tasks(app)
    loop_thread = threading.get_ident()
    seen: list[int] = []
    heartbeat = anyio.Event()
    gate = threading.Event()

    def cpu_work(size: int) -> int:
        seen.append(threading.get_ident())
        gate.wait(5)  # blocks its thread, not the event loop
        return size * 2

    async def beat() -> None:
        heartbeat.set()

    scheduler = get_scheduler(app)
    task = scheduler.schedule(cpu_work, size=21)
    with anyio.fail_after(2):
        await task.started.wait()
        scheduler.schedule(beat)
        await heartbeat.wait()  # the loop keeps running while the sync task blocks
    gate.set()
    await within(task.wait())
    assert task.state is TaskState.SUCCEEDED
    assert task.result == 42
    assert seen
    assert seen[0] != loop_thread


async def test_sync_endpoint_can_schedule_in_every_mode() -> None:
    app = FastAPI()
    add_tasks(app)
    threads: list[int] = []

    def record(label: str) -> None:
        threads.append(threading.get_ident())

    @app.post("/sync")
    def sync_endpoint(tasks: Tasks) -> dict[str, bool]:  # runs in the threadpool
        tasks.schedule(record, "immediate")
        tasks.after_route.schedule(record, "after_route")
        tasks.after_response.schedule(record, "after_response")
        return {"ok": True}

    async with lifespan_client(app) as client:
        assert (await client.post("/sync")).status_code == 200
        await wait_for_tasks(app, timeout=2)
        assert len(threads) == 3
        assert threading.get_ident() not in threads
        assert get_registry(app).counters.succeeded == 3
