"""Good usage: must pass ``mypy --strict`` (checked by test_typing.py)."""

import functools

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
