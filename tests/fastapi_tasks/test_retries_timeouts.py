"""Built-in retries (back-off with jitter, on_error once after the last failure) and timeouts."""

import itertools
import threading

import anyio
import pytest
from fastapi import FastAPI

from fastapi_tasks import (
    Task,
    TaskConfig,
    TaskState,
    add_tasks,
    get_registry,
    get_scheduler,
)
from fastapi_tasks.retry import backoff_delays
from fastapi_tasks.testing import wait_for_tasks
from tests.polling import within

pytestmark = pytest.mark.anyio


def test_backoff_is_exponential_and_jitter_only_shortens() -> None:
    config = TaskConfig(retry_delay=0.1, retry_backoff=2.0, retry_jitter=0.5)
    no_jitter = list(itertools.islice(backoff_delays(config, rand=lambda: 0.0), 4))
    assert no_jitter == pytest.approx([0.1, 0.2, 0.4, 0.8])
    full_jitter = list(itertools.islice(backoff_delays(config, rand=lambda: 1.0), 3))
    assert full_jitter == pytest.approx([0.05, 0.1, 0.2])


async def test_retries_then_on_error_once_after_the_last_failure() -> None:
    app = FastAPI()
    add_tasks(app)
    calls: list[int] = []
    handled: list[tuple[int, str]] = []

    async def flaky_call(order_id: int) -> None:
        calls.append(order_id)
        raise ConnectionError("gateway unreachable")

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append((task.attempts, type(error).__name__))

    task = (
        get_scheduler(app)
        .task(
            name="orders.charge",
            retries=3,
            retry_delay=0.001,
            retry_on=(ConnectionError,),
            on_error=on_failed,
        )
        .schedule(flaky_call, 7)
    )
    await within(task.wait())
    assert calls == [7, 7, 7, 7]
    assert handled == [(4, "ConnectionError")]
    assert task.state is TaskState.FAILED
    counters = get_registry(app).counters
    assert counters.retried == 3
    assert counters.failed == 1


async def test_exceptions_not_listed_in_retry_on_are_not_retried() -> None:
    app = FastAPI()
    add_tasks(
        app,
        config=TaskConfig(retries=5, retry_delay=0.001, retry_on=(ConnectionError,)),
    )
    calls: list[str] = []

    async def broken() -> None:
        calls.append("x")
        raise ValueError("a bug, not a network error")

    task = get_scheduler(app).schedule(broken)
    await within(task.wait())
    assert calls == ["x"]
    assert task.state is TaskState.FAILED


async def test_success_on_a_later_attempt_skips_on_error() -> None:
    app = FastAPI()
    add_tasks(app)
    handled: list[Exception] = []
    attempts = iter([ConnectionError("1"), ConnectionError("2"), None])

    async def sometimes() -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "done"

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append(error)

    task = (
        get_scheduler(app)
        .task(retries=2, retry_delay=0.001, on_error=on_failed)
        .schedule(sometimes)
    )
    await within(task.wait())
    assert task.state is TaskState.SUCCEEDED
    assert task.result == "done"
    assert task.attempts == 3
    assert handled == []


async def test_timeout_fails_the_task_with_timeout_error() -> None:
    app = FastAPI()
    add_tasks(app)
    handled: list[str] = []

    async def hangs() -> None:
        await anyio.sleep_forever()

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append(type(error).__name__)

    task = get_scheduler(app).task(timeout=0.05, on_error=on_failed).schedule(hangs)
    await wait_for_tasks(app, timeout=3)
    assert task.state is TaskState.FAILED
    assert isinstance(task.error, TimeoutError)
    assert handled == ["TimeoutError"]


async def test_timeout_applies_per_attempt_and_can_be_retried() -> None:
    app = FastAPI()
    add_tasks(app)
    calls: list[int] = []

    async def slow_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            await anyio.sleep_forever()
        return "ok"

    task = (
        get_scheduler(app)
        .task(timeout=0.05, retries=1, retry_delay=0.001, retry_on=(TimeoutError,))
        .schedule(slow_then_fast)
    )
    await within(task.wait())
    assert task.state is TaskState.SUCCEEDED
    assert task.attempts == 2


async def test_sync_function_timeout() -> None:
    app = FastAPI()
    add_tasks(app)
    gate = threading.Event()

    def blocking() -> None:
        gate.wait(5)

    task = get_scheduler(app).task(timeout=0.05).schedule(blocking)
    await within(task.wait())
    gate.set()  # let the abandoned thread end
    assert task.state is TaskState.FAILED
    assert isinstance(task.error, TimeoutError)


async def test_a_limit_the_limiter_rejects_fails_that_task_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    add_tasks(app)
    handled: list[str] = []

    async def thumbnail() -> None:
        return None

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append(type(error).__name__)

    scheduler = get_scheduler(app)
    bad = scheduler.task(name="bad", limit=-1, on_error=on_failed).schedule(thumbnail)
    good = scheduler.schedule(thumbnail)
    await wait_for_tasks(app, timeout=2)
    assert bad.state is TaskState.FAILED
    assert isinstance(bad.error, ValueError)
    assert handled == ["ValueError"]
    assert good.state is TaskState.SUCCEEDED
    assert any("'bad'" in r.getMessage() for r in caplog.records)
