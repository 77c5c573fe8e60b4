"""``Task`` built by hand, as the published docs do to test error handlers."""

import functools
import logging
import threading
import time
from typing import Any

import pytest

from fastapi_tasks import Task, TaskConfig, TaskMode, TaskState
from tests.fastapi_tasks.support import SeedEmail

pytestmark = pytest.mark.anyio


async def add(a: int, b: int) -> int:
    return a + b


async def test_task_built_with_func_args_kwargs_gets_sensible_defaults() -> None:
    before = time.time()
    task = Task(func=add, args=(1,), kwargs={"b": 2})
    assert task.config == TaskConfig()
    assert task.mode is TaskMode.IMMEDIATE
    assert task.state is TaskState.PENDING
    assert before <= task.scheduled_at <= time.time()
    assert (task.started_at, task.finished_at, task.attempts) == (None, None, 0)
    assert task.name == "add"
    assert await task() == 3
    assert (task.result, task.error, task.attempts) == (3, None, 1)


async def test_await_task_outside_its_handler_calls_on_error_and_returns_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[tuple[Task, str]] = []

    async def charge(order_id: int, payment_token: str) -> None:
        raise ConnectionError("gateway down")

    async def on_failed(task: Task, error: Exception) -> None:
        handled.append((task, str(error)))

    task = Task(
        func=charge,
        args=(7,),
        kwargs={"payment_token": "tok_secret_42"},
        config=TaskConfig(name="orders.charge_payment", on_error=on_failed),
    )
    caplog.set_level(logging.ERROR, logger="fastapi_tasks")
    assert await task() is None
    assert handled == [(task, "gateway down")]
    assert isinstance(task.error, ConnectionError)
    [record] = [r for r in caplog.records if r.name == "fastapi_tasks.tasks"]
    assert "orders.charge_payment" in record.getMessage()
    assert "tok_secret_42" not in caplog.text


async def test_await_task_without_on_error_logs_and_returns_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom() -> None:
        raise ValueError("bad")

    caplog.set_level(logging.ERROR, logger="fastapi_tasks")
    assert await Task(func=boom, args=(), kwargs={})() is None
    assert "ValueError" in caplog.text


async def test_seed_retry_handler_on_a_hand_built_task_makes_four_calls() -> None:
    # The published docs' "Testing error handlers" shape: build the task, await it.
    seed = SeedEmail()
    task = Task(
        func=seed.send_email,
        args=("bob@example.org", "t0k3n"),
        kwargs={},
        config=TaskConfig(on_error=seed.email_error_handler),
    )

    assert await task() is None
    assert len(seed.calls) == 4
    assert len(seed.handler_calls) == 1
    assert seed.outcomes == ["alert"]
    assert task.attempts == 4


async def test_handler_that_raises_is_contained_on_a_hand_built_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom() -> None:
        raise ValueError("task failed")

    async def broken(task: Task, error: Exception) -> None:
        raise RuntimeError("handler failed too")

    caplog.set_level(logging.ERROR, logger="fastapi_tasks")
    config = TaskConfig(name="fragile", on_error=broken)
    task = Task(func=boom, args=(), kwargs={}, config=config)
    assert await task() is None
    assert "on_error handler of task 'fragile' (immediate) raised RuntimeError" in (
        caplog.text
    )


async def test_sync_function_and_sync_handler_run_in_worker_threads() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def resize(path: str) -> None:
        threads.append(threading.get_ident())
        raise OSError(path)

    def on_failed(task: Task, error: Exception) -> None:
        threads.append(threading.get_ident())

    task = Task(
        func=resize, args=("a.png",), kwargs={}, config=TaskConfig(on_error=on_failed)
    )
    assert await task() is None
    assert len(threads) == 2
    assert loop_thread not in threads


class _Mailer:
    async def __call__(self, to: str) -> None:
        return None

    async def send(self, to: str) -> None:
        return None


def test_default_name_is_the_function_qualified_name_through_partials_and_objects() -> (
    None
):
    mailer = _Mailer()
    inner = functools.partial(add, 1)
    cases: list[tuple[Any, str]] = [
        (add, "add"),
        (functools.partial(inner, b=2), "add"),
        (mailer, "_Mailer"),
        (mailer.send, "_Mailer.send"),
    ]
    assert [Task(func, (), {}).name for func, _ in cases] == [name for _, name in cases]
    named = Task(add, (), {}, TaskConfig(name="orders.add"))
    assert named.name == "orders.add"
