"""Good usage: must pass ``mypy --strict`` (checked by test_typing.py)."""

import functools
from typing import Any

import anyio
from fastapi import FastAPI

from fastapi_tasks import (
    Task,
    TaskConfig,
    Tasks,
    TasksScheduler,
    add_tasks,
    get_registry,
)

app = FastAPI()
add_tasks(
    app, config=TaskConfig(retries=2, retry_on=(ConnectionError,)), shutdown_timeout=5
)


async def charge(order_id: int, *, payment_token: str, amount: float = 0.0) -> bool:
    return bool(order_id and payment_token and amount >= 0)


def make_thumbnail(path: str, size: tuple[int, int]) -> None:
    return None


async def on_charge_failed(task: Task, error: Exception, *, order_id: int) -> None:
    _ = task.kwargs.get("order_id"), task.args, error, order_id


def on_sync_failure(task: Task, error: Exception) -> None:
    return None


@app.post("/orders")
async def create_order(tasks: Tasks) -> dict[str, int | None]:
    task: Task = tasks.task(
        name="orders.charge",
        shield=True,
        on_error=functools.partial(on_charge_failed, order_id=1),
        timeout=10.0,
    ).schedule(charge, 1, payment_token="tok", amount=9.5)
    tasks.after_route.schedule(make_thumbnail, "a.png", (64, 64))
    tasks.after_response.task(
        limit=anyio.CapacityLimiter(2), on_error=on_sync_failure
    ).schedule(make_thumbnail, path="b.png", size=(32, 32))
    tasks.after_response.task(limit=3).schedule(charge, 2, payment_token="t")
    return {"request_id": task.request_id}


def schedule_from_helper(tasks: TasksScheduler) -> int:
    return tasks.schedule(charge, 3, payment_token="x").id


def counters() -> int:
    return get_registry(app).counters.scheduled


async def fetch_total(order_id: int) -> dict[str, float]:
    return {"total": float(order_id)}


def count_lines(path: str) -> int:
    return len(path)


async def typed_results(tasks: TasksScheduler) -> float:
    total = tasks.schedule(fetch_total, 1)
    lines = tasks.after_response.task(name="files.count").schedule(count_lines, "a")
    await total.wait()
    await lines.wait()
    exact: Task[[int], dict[str, float]] = total
    published_style: Task[..., Any] = lines
    result: dict[str, float] | None = exact.result
    count: int | None = lines.result
    _ = published_style
    return (result or {}).get("total", 0.0) + (count or 0)
