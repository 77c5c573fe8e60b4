"""Public API: __all__, errors, and the published package's shapes (seed code runs unchanged)."""

import os
import warnings
from types import ModuleType
from typing import Any, get_args, get_origin

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

import fastapi_tasks
from fastapi_tasks import Task, Tasks, add_tasks, errors
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import lifespan_client

pytestmark = pytest.mark.anyio

EXPECTED_PUBLIC = {
    "ConfiguredScheduler",
    "FastAPITasksError",
    "FastAPITasksUninitializedAppError",
    "Task",
    "TaskBatch",
    "TaskConfig",
    "TaskCounters",
    "TaskErrorHandler",
    "TaskMode",
    "TaskRegistry",
    "TaskState",
    "Tasks",
    "TasksBatch",
    "TasksScheduler",
    "add_tasks",
    "errors",
    "get_registry",
    "get_scheduler",
}


def test_all_is_sorted_complete_and_importable() -> None:
    assert fastapi_tasks.__all__ == sorted(fastapi_tasks.__all__)
    assert set(fastapi_tasks.__all__) == EXPECTED_PUBLIC
    for name in fastapi_tasks.__all__:
        assert getattr(fastapi_tasks, name) is not None
    # Besides its exports, the package namespace holds only its own submodules.
    public_attrs = {
        name
        for name, value in vars(fastapi_tasks).items()
        if not name.startswith("_")
        and not (
            isinstance(value, ModuleType) and value.__name__ == f"fastapi_tasks.{name}"
        )
    }
    assert public_attrs <= set(fastapi_tasks.__all__)


def test_published_module_paths_import_the_same_objects() -> None:
    from fastapi_tasks import dependencies, tasks
    from fastapi_tasks.dependencies import Tasks as PublishedTasks
    from fastapi_tasks.dependencies import add_tasks as published_add_tasks
    from fastapi_tasks.errors import (
        FastAPITasksError,
        FastAPITasksUninitializedAppError,
    )
    from fastapi_tasks.tasks import (
        Task as PublishedTask,
    )
    from fastapi_tasks.tasks import (
        TaskConfig,
        TaskErrorHandler,
        TasksBatch,
        TasksScheduler,
    )

    assert PublishedTask is fastapi_tasks.Task
    assert TaskConfig is fastapi_tasks.TaskConfig
    assert TaskErrorHandler is fastapi_tasks.TaskErrorHandler
    assert TasksScheduler is fastapi_tasks.TasksScheduler
    assert PublishedTasks is fastapi_tasks.Tasks
    assert published_add_tasks is fastapi_tasks.add_tasks
    assert FastAPITasksError is fastapi_tasks.FastAPITasksError
    assert (
        FastAPITasksUninitializedAppError
        is fastapi_tasks.FastAPITasksUninitializedAppError
    )
    # One class under two names: the published ``TasksBatch`` and this project's ``TaskBatch``.
    assert TasksBatch is fastapi_tasks.TasksBatch is fastapi_tasks.TaskBatch
    assert sorted(tasks.__all__) == tasks.__all__
    assert sorted(dependencies.__all__) == dependencies.__all__


async def test_after_route_and_after_response_are_tasks_batches() -> None:
    app = FastAPI()
    add_tasks(app)
    seen: list[object] = []

    @app.get("/")
    async def endpoint(tasks: Tasks) -> None:
        seen.extend([tasks.after_route, tasks.after_response])

    async with lifespan_client(app) as client:
        await client.get("/")
    assert [type(batch) for batch in seen] == [fastapi_tasks.TasksBatch] * 2


async def test_task_is_generic_and_subscripts_at_run_time() -> None:
    assert get_origin(Task[..., Any]) is Task
    # The published docs' spelling, bare ``dict`` included.
    published = Task[[int, str], dict]  # type: ignore[type-arg]
    assert get_args(published) == ((int, str), dict)

    async def total(order_id: int, currency: str) -> dict[str, str]:
        return {"order": str(order_id), "currency": currency}

    task = Task[[int, str], dict[str, str]](func=total, args=(1, "EUR"), kwargs={})
    assert await task() == {"order": "1", "currency": "EUR"}


def test_error_hierarchy() -> None:
    assert issubclass(
        errors.FastAPITasksUninitializedAppError, errors.FastAPITasksError
    )
    assert fastapi_tasks.FastAPITasksError is errors.FastAPITasksError
    assert "add_tasks(app)" in str(errors.FastAPITasksUninitializedAppError())


async def test_tasks_without_add_tasks_raises_the_uninitialized_error() -> None:
    app = FastAPI()

    @app.get("/")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(
            errors.FastAPITasksUninitializedAppError, match=r"add_tasks\(app\)"
        ):
            await client.get("/")
    with pytest.raises(errors.FastAPITasksUninitializedAppError):
        fastapi_tasks.get_registry(app)


def app_with_tasks(ran: list[str]) -> FastAPI:
    app = FastAPI()
    add_tasks(app)

    async def record() -> None:
        ran.append("task")

    @app.get("/")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        tasks.schedule(record)
        return {"ok": True}

    return app


async def test_tasks_on_an_app_whose_lifespan_never_ran_raises_and_says_what_to_do() -> (
    None
):
    ran: list[str] = []
    app = app_with_tasks(ran)
    transport = httpx.ASGITransport(app=app)  # no LifespanManager: nothing would drain
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(errors.FastAPITasksUninitializedAppError) as raised:
            await client.get("/")
    message = str(raised.value)
    assert "lifespan has not run" in message
    assert "LifespanManager(app)" in message
    assert "with TestClient(app)" in message
    assert ran == []


def test_test_client_without_with_raises_and_with_with_works() -> None:
    with warnings.catch_warnings():
        # This Starlette asks for ``httpx2`` under its TestClient; the project has httpx.
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    ran: list[str] = []
    app = app_with_tasks(ran)
    with pytest.raises(errors.FastAPITasksUninitializedAppError, match="lifespan"):
        TestClient(app).get("/")
    with TestClient(app) as client:
        assert client.get("/").json() == {"ok": True}
    assert ran == ["task"]


# --- the seed's shapes (Example 1, 2, 3 and 4), with the I/O replaced by recorders ----------

calls: list[tuple[str, Any]] = []


class OrderItem(BaseModel):
    product_id: int
    quantity: int
    price: float


class OrderCreate(BaseModel):
    user_id: int
    email: str
    items: list[OrderItem]
    payment_token: str


async def process_payment(
    order_id: int, amount: float, payment_token: str
) -> dict[str, Any]:
    calls.append(("payment", order_id))
    if payment_token == "tok_declined":
        raise RuntimeError("declined")
    return {"status": "approved"}


async def payment_error_handler(task: Task, error: Exception) -> None:
    order_id = task.kwargs.get("order_id")
    calls.append(("payment_failed", order_id))


async def reserve_inventory(order_id: int, items: list[OrderItem]) -> None:
    calls.append(("inventory", order_id))


async def send_order_confirmation(
    email: str, order_id: int, items: list[OrderItem]
) -> None:
    calls.append(("email", order_id))


async def notify_warehouse(order_id: int, items: list[OrderItem]) -> None:
    calls.append(("warehouse", order_id))


async def track_order_event(
    event: str, order_id: int, metadata: dict[str, Any]
) -> None:
    calls.append(("track", event))


def process_uploaded_image(user_id: int, upload_path: str, filename: str) -> None:
    raise OSError("cannot decode")


async def image_processing_error(task: Task, error: Exception) -> None:
    upload_path = task.args[1] if len(task.args) > 1 else None
    calls.append(("cleanup", upload_path))


async def flush_events_to_analytics(events: list[dict[str, Any]]) -> None:
    raise ConnectionError("analytics down")


async def analytics_error_handler(task: Task, error: Exception) -> None:
    events = task.args[0] if task.args else []
    calls.append(("fallback", len(events)))


async def process_event_batch(events: list[dict[str, Any]], tasks: Tasks) -> None:
    if not events:
        return
    tasks.task(
        name=f"analytics_batch_{len(events)}_events", on_error=analytics_error_handler
    ).schedule(flush_events_to_analytics, events)


seed_app = FastAPI()
add_tasks(seed_app)


@seed_app.post("/orders")
async def create_order(order_data: OrderCreate, tasks: Tasks) -> dict[str, Any]:
    total_amount = sum(item.price * item.quantity for item in order_data.items)
    order_id = 12345
    tasks.task(
        name=f"payment_{order_id}", shield=True, on_error=payment_error_handler
    ).schedule(
        process_payment,
        order_id=order_id,
        amount=total_amount,
        payment_token=order_data.payment_token,
    )
    tasks.after_route.task(name=f"inventory_{order_id}", shield=True).schedule(
        reserve_inventory, order_id, order_data.items
    )
    tasks.after_response.schedule(
        send_order_confirmation, order_data.email, order_id, order_data.items
    )
    tasks.after_response.schedule(notify_warehouse, order_id, order_data.items)
    tasks.after_response.schedule(
        track_order_event,
        "order_created",
        order_id,
        {"user_id": order_data.user_id, "total": total_amount},
    )
    return {"order_id": order_id, "status": "processing", "total": total_amount}


@seed_app.post("/upload-image")
async def upload_image(user_id: int, tasks: Tasks) -> dict[str, str]:
    upload_path = os.path.join("/tmp", "does-not-exist.png")  # noqa: PTH118 - seed style
    tasks.task(
        name=f"process_image_{user_id}", on_error=image_processing_error
    ).schedule(process_uploaded_image, user_id, upload_path, "a.png")
    return {"status": "processing"}


@seed_app.post("/track")
async def track_event(event: str, user_id: int, tasks: Tasks) -> dict[str, str]:
    await process_event_batch([{"event": event, "user_id": user_id}] * 10, tasks)
    return {"status": "tracked"}


@seed_app.post("/verify")
async def verify_email(token: str, tasks: Tasks) -> dict[str, str]:
    tasks.after_response.schedule(track_order_event, "email_verified", 1, {})
    if token != "good":
        raise HTTPException(status_code=400, detail="Invalid or expired token")
    return {"message": "Email verified successfully"}


async def test_seed_shapes_run_unchanged() -> None:
    calls.clear()
    order = {
        "user_id": 1,
        "email": "a@example.org",
        "items": [{"product_id": 1, "quantity": 2, "price": 5.0}],
        "payment_token": "tok_declined",
    }
    async with lifespan_client(seed_app) as client:
        response = await client.post("/orders", json=order)
        assert response.json() == {
            "order_id": 12345,
            "status": "processing",
            "total": 10.0,
        }
        assert (
            await client.post("/upload-image", params={"user_id": 3})
        ).status_code == 200
        assert (
            await client.post("/track", params={"event": "e", "user_id": 3}, json={})
        ).status_code == 200
        assert (
            await client.post("/verify", params={"token": "bad"})
        ).status_code == 400
        await wait_for_tasks(seed_app, timeout=3)
    assert ("payment", 12345) in calls
    assert ("payment_failed", 12345) in calls
    assert calls.index(("inventory", 12345)) < calls.index(("email", 12345))
    assert ("warehouse", 12345) in calls
    assert ("track", "order_created") in calls
    assert ("cleanup", "/tmp/does-not-exist.png") in calls
    assert ("fallback", 10) in calls
    assert ("track", "email_verified") not in calls  # the endpoint raised
