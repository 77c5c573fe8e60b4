"""The asyncio task that runs a task carries the task's name (debuggers, aiomonitor)."""

import asyncio

import anyio
import anyio.lowlevel
import pytest
from fastapi import FastAPI

from fastapi_tasks import Task, Tasks, add_tasks, get_scheduler
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import lifespan_client
from tests.polling import within

pytestmark = pytest.mark.anyio


def current_names() -> tuple[str, str | None]:
    task = asyncio.current_task()
    assert task is not None
    return task.get_name(), anyio.get_current_task().name


async def test_each_mode_runs_under_the_configured_name_also_after_suspending() -> None:
    app = FastAPI()
    add_tasks(app)
    seen: dict[str, list[tuple[str, str | None]]] = {}

    async def record(label: str) -> None:
        seen[label] = [current_names()]
        await anyio.lowlevel.checkpoint()
        seen[label].append(current_names())

    async def quick(label: str) -> None:
        seen[label] = [current_names()]  # finishes without suspending

    @app.post("/orders")
    async def create(tasks: Tasks) -> dict[str, bool]:
        tasks.task(name="orders.charge_payment").schedule(record, "immediate")
        tasks.task(name="orders.audit").schedule(quick, "immediate-quick")
        tasks.after_route.task(name="orders.reserve_stock").schedule(
            record, "after_route"
        )
        tasks.after_route.task(name="orders.count").schedule(quick, "route-quick")
        tasks.after_response.task(name="orders.send_confirmation").schedule(
            record, "after_response"
        )
        tasks.after_response.schedule(quick, "unnamed")
        return {"ok": True}

    async with lifespan_client(app) as client:
        assert (await client.post("/orders")).status_code == 200
        await wait_for_tasks(app, timeout=2)
    expected = {
        "immediate": "orders.charge_payment",
        "immediate-quick": "orders.audit",
        "after_route": "orders.reserve_stock",
        "route-quick": "orders.count",
        "after_response": "orders.send_confirmation",
        "unnamed": quick.__qualname__,
    }
    for label, name in expected.items():
        assert set(seen[label]) == {(name, name)}, label


async def test_retried_timed_and_failing_tasks_and_their_handlers_carry_the_name() -> (
    None
):
    app = FastAPI()
    add_tasks(app)
    seen: list[tuple[str, str | None]] = []

    async def flaky() -> None:
        seen.append(current_names())
        await anyio.lowlevel.checkpoint()
        raise ConnectionError("down")

    async def on_failed(task: Task, error: Exception) -> None:
        seen.append(current_names())

    async with lifespan_client(app):
        task = (
            get_scheduler(app)
            .task(
                name="users.send_email",
                retries=1,
                retry_delay=0,
                timeout=5,
                on_error=on_failed,
            )
            .schedule(flaky)
        )
        await within(task.wait())
    assert seen == [("users.send_email", "users.send_email")] * 3
