"""Failures and on_error: logging without arguments, handlers sync/async, await task()."""

import logging
import threading
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from fastapi_tasks import Task, TaskConfig, Tasks, TaskState, add_tasks, get_registry
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import SeedEmail, lifespan_client

pytestmark = pytest.mark.anyio

SECRET_TOKEN = "tok_live_9f8e7d6c5b4a"
SECRET_EMAIL = "alice.secret@example.org"
SECRET_PASSWORD = "hunter2-Sup3rSecret!"


class PaymentDeclinedError(Exception):
    pass


async def test_failure_logs_name_mode_type_and_traceback_but_never_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    add_tasks(app)
    handled: list[tuple[TaskState, str]] = []

    async def charge(
        order_id: int, payment_token: str, *, email: str, password: str
    ) -> None:
        raise PaymentDeclinedError("declined by the gateway")

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append((task.state, type(error).__name__))

    @app.post("/orders")
    async def create(tasks: Tasks) -> dict[str, bool]:
        tasks.task(name="orders.charge_payment", on_error=on_failed).schedule(
            charge, 1, SECRET_TOKEN, email=SECRET_EMAIL, password=SECRET_PASSWORD
        )
        tasks.after_response.schedule(
            charge, 2, SECRET_TOKEN, email=SECRET_EMAIL, password=SECRET_PASSWORD
        )
        return {"ok": True}

    caplog.set_level(logging.DEBUG, logger="fastapi_tasks")
    async with lifespan_client(app) as client:
        response = await client.post("/orders")
        await wait_for_tasks(app, timeout=2)
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    errors = [
        r
        for r in caplog.records
        if r.name == "fastapi_tasks.tasks" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 2
    text = caplog.text + "".join(repr(t) for t in get_registry(app).recent)
    text += repr(get_registry(app).snapshot())
    for secret in (SECRET_TOKEN, SECRET_EMAIL, SECRET_PASSWORD):
        assert secret not in text
    assert "orders.charge_payment" in text
    assert "immediate" in text
    assert "after_response" in text
    assert "PaymentDeclinedError" in text
    assert "Traceback" in text
    first = errors[0]
    assert getattr(first, "task_name", None) == "orders.charge_payment"
    # The handler runs before the verdict, with the exception of the last attempt.
    assert handled == [(TaskState.RUNNING, "PaymentDeclinedError")]


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_failures_reach_a_handler_on_the_published_logger_without_arguments() -> (
    None
):
    app = FastAPI()
    add_tasks(app)

    async def charge(payment_token: str, *, email: str) -> None:
        raise PaymentDeclinedError("declined by the gateway")

    @app.post("/orders")
    async def create(tasks: Tasks) -> dict[str, bool]:
        tasks.task(name="orders.charge_payment").schedule(
            charge, SECRET_TOKEN, email=SECRET_EMAIL
        )
        return {"ok": True}

    handler = ListHandler()
    published = logging.getLogger("fastapi_tasks.tasks")
    published.addHandler(handler)
    try:
        async with lifespan_client(app) as client:
            await client.post("/orders")
            await wait_for_tasks(app, timeout=2)
    finally:
        published.removeHandler(handler)
    [record] = [r for r in handler.records if r.levelno == logging.ERROR]
    assert record.name == "fastapi_tasks.tasks"
    text = handler.format(record) + logging.Formatter().formatException(
        record.exc_info or (None, None, None)
    )
    assert "orders.charge_payment" in text
    assert "PaymentDeclinedError" in text
    assert SECRET_TOKEN not in text + repr(record.__dict__)
    assert SECRET_EMAIL not in text + repr(record.__dict__)


async def test_on_error_that_raises_is_logged_and_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    add_tasks(app)
    others: list[str] = []

    async def boom() -> None:
        raise ValueError("task failed")

    async def broken_handler(task: Task, error: Exception) -> None:
        raise RuntimeError("handler failed too")

    async def other() -> None:
        await anyio.lowlevel.checkpoint()
        others.append("ran")

    @app.post("/x")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        tasks.task(name="fragile", on_error=broken_handler).schedule(boom)
        tasks.schedule(other)
        tasks.after_response.schedule(other)
        return {"ok": True}

    async with lifespan_client(app) as client:
        assert (await client.post("/x")).status_code == 200
        await wait_for_tasks(app, timeout=2)
        assert (await client.post("/x")).status_code == 200  # app still serves
        await wait_for_tasks(app, timeout=2)
    assert others == ["ran"] * 4
    messages = [
        r.getMessage() for r in caplog.records if r.name == "fastapi_tasks.tasks"
    ]
    assert any(
        "on_error handler of task 'fragile'" in m and "RuntimeError" in m
        for m in messages
    )
    assert get_registry(app).counters.failed == 2


async def test_seed_retry_handler_makes_exactly_four_calls_and_one_handler_call() -> (
    None
):
    app = FastAPI()
    add_tasks(app)
    seed = SeedEmail()

    @app.post("/register")
    async def register(tasks: Tasks) -> dict[str, bool]:
        tasks.after_response.task(
            name="verification_email", on_error=seed.email_error_handler
        ).schedule(seed.send_email, "bob@example.org", "t0k3n")
        return {"ok": True}

    async with lifespan_client(app) as client:
        await client.post("/register")
        await wait_for_tasks(app, timeout=3)
    assert len(seed.calls) == 4
    assert len(seed.handler_calls) == 1
    assert seed.outcomes == ["alert"]
    task = get_registry(app).recent[-1]
    assert task.state is TaskState.FAILED
    assert task.attempts == 4
    assert isinstance(task.error, ConnectionError)


async def test_handler_recovering_with_await_task_marks_the_task_succeeded() -> None:
    app = FastAPI()
    add_tasks(app)
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError("first try fails")
        return "sent"

    async def retry_once(task: Task, error: Exception) -> None:
        assert await task() == "sent"

    @app.post("/x")
    async def endpoint(tasks: Tasks) -> dict[str, int | None]:
        return {"id": tasks.task(on_error=retry_once).schedule(flaky).id}

    async with lifespan_client(app) as client:
        await client.post("/x")
        await wait_for_tasks(app, timeout=2)
    task = get_registry(app).recent[-1]
    assert task.state is TaskState.SUCCEEDED
    assert task.result == "sent"
    assert task.error is None


async def test_sync_handler_runs_in_a_worker_thread() -> None:
    app = FastAPI()
    add_tasks(app, config=TaskConfig(on_error=None))
    seen: dict[str, Any] = {}
    loop_thread = threading.get_ident()

    async def boom() -> None:
        raise KeyError("missing")

    def sync_handler(task: Task, error: Exception) -> None:
        seen["thread"] = threading.get_ident()
        seen["error"] = type(error).__name__

    @app.post("/x")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        tasks.task(on_error=sync_handler).schedule(boom)
        return {"ok": True}

    async with lifespan_client(app) as client:
        await client.post("/x")
        await wait_for_tasks(app, timeout=2)
    assert seen["error"] == "KeyError"
    assert seen["thread"] != loop_thread


async def test_global_on_error_and_per_task_override() -> None:
    seen: list[str] = []

    async def global_handler(task: Task, error: Exception) -> None:
        seen.append(f"global:{task.name}")

    async def local_handler(task: Task, error: Exception) -> None:
        seen.append(f"local:{task.name}")

    async def boom() -> None:
        raise ValueError

    app = FastAPI()
    add_tasks(app, config=TaskConfig(on_error=global_handler))

    @app.post("/x")
    async def endpoint(tasks: Tasks) -> dict[str, bool]:
        tasks.task(name="a").schedule(boom)
        tasks.after_route.task(name="b", on_error=local_handler).schedule(boom)
        return {"ok": True}

    async with lifespan_client(app) as client:
        await client.post("/x")
        await wait_for_tasks(app, timeout=2)
    assert sorted(seen) == ["global:a", "local:b"]


async def test_task_failing_while_the_client_reads_a_stream() -> None:
    app = FastAPI()
    add_tasks(app)
    failed = anyio.Event()

    async def boom() -> None:
        raise RuntimeError("background failure mid-stream")

    async def on_failed(task: Task, error: Exception) -> None:
        failed.set()

    @app.get("/stream")
    async def stream(tasks: Tasks) -> StreamingResponse:
        async def body() -> Any:
            yield "first\n"
            tasks.task(on_error=on_failed).schedule(boom)
            with anyio.fail_after(2):
                await failed.wait()  # the task has failed before the rest is sent
            for i in range(3):
                yield f"line {i}\n"

        return StreamingResponse(body(), media_type="text/plain")

    async with lifespan_client(app) as client:
        async with client.stream("GET", "/stream") as response:
            lines = [line async for line in response.aiter_lines()]
        await wait_for_tasks(app, timeout=2)
    assert response.status_code == 200
    assert lines == ["first", "line 0", "line 1", "line 2"]
    assert get_registry(app).counters.failed == 1


async def test_call_that_cannot_bind_its_arguments_fails_the_task_not_the_worker() -> (
    None
):
    # Arguments built at run time (a dict from a queue, an untyped caller) escape ParamSpec:
    # the TypeError of the call itself is the task's failure, and later tasks still run.
    app = FastAPI()
    add_tasks(app)
    handled: list[str] = []
    ran: list[str] = []

    async def charge(order_id: int) -> None:
        ran.append("charge")

    async def record(label: str) -> None:
        ran.append(label)

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append(type(error).__name__)

    bad_kwargs: dict[str, Any] = {"order_id": 1, "payment_token": SECRET_TOKEN}

    @app.post("/orders")
    async def create(tasks: Tasks) -> dict[str, bool]:
        tasks.task(on_error=on_failed).schedule(charge, **bad_kwargs)
        tasks.schedule(record, "next")
        return {"ok": True}

    async with lifespan_client(app) as client:
        assert (await client.post("/orders")).status_code == 200
        await wait_for_tasks(app, timeout=2)
        assert (await client.post("/orders")).status_code == 200
        await wait_for_tasks(app, timeout=2)
    assert ran == ["next", "next"]
    assert handled == ["TypeError", "TypeError"]
    counters = get_registry(app).counters
    assert (counters.failed, counters.succeeded) == (2, 2)
