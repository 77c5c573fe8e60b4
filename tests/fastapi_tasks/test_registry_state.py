"""Task state, the bounded registry, limits, contextvars, config merging."""

import contextvars
import dataclasses
import time
from typing import Any

import anyio
import pytest
from fastapi import FastAPI

from fastapi_tasks import (
    Task,
    TaskConfig,
    TaskMode,
    Tasks,
    TaskState,
    add_tasks,
    get_registry,
    get_scheduler,
)
from fastapi_tasks.config import TaskOptions
from fastapi_tasks.registry import TaskRegistry
from fastapi_tasks.testing import wait_for_tasks
from tests.fastapi_tasks.support import lifespan_client
from tests.polling import within

pytestmark = pytest.mark.anyio


def state_of(task: Task) -> TaskState:
    """Read the state afresh (mypy would keep the narrowed literal otherwise)."""
    return task.state


async def test_task_state_timestamps_and_wait() -> None:
    app = FastAPI()
    add_tasks(app)
    release = anyio.Event()

    async def job(x: int) -> int:
        await release.wait()
        return x * 2

    before = time.time()
    task = get_scheduler(app).schedule(job, 21)
    assert task.mode is TaskMode.IMMEDIATE
    assert task.state is TaskState.PENDING
    assert task.attempts == 0
    assert task.started_at is None
    with anyio.fail_after(2):
        await task.started.wait()
    assert state_of(task) is TaskState.RUNNING
    assert task in get_registry(app).running
    release.set()
    await within(task.wait())
    assert state_of(task) is TaskState.SUCCEEDED
    assert task.result == 42
    assert task.error is None
    assert task.attempts == 1
    assert task.started_at is not None
    assert task.finished_at is not None
    assert before <= task.scheduled_at <= task.started_at <= task.finished_at
    assert task.done
    await within(task.wait())  # returns at once once finished


async def test_wait_never_raises_and_a_task_can_wait_for_another() -> None:
    app = FastAPI()
    add_tasks(app)
    order: list[str] = []

    async def charge() -> None:
        await anyio.lowlevel.checkpoint()
        order.append("charged")
        raise ConnectionError("declined")

    async def confirm(after: Task) -> None:
        await after.wait()
        order.append(f"confirm sees {after.state.value}")

    scheduler = get_scheduler(app)
    charge_task = scheduler.schedule(charge)
    confirm_task = scheduler.schedule(confirm, charge_task)
    await within(confirm_task.wait())
    assert order == ["charged", "confirm sees failed"]
    assert confirm_task.state is TaskState.SUCCEEDED


async def test_two_thousand_requests_leave_nothing_running_and_the_registry_bounded() -> (
    None
):
    app = FastAPI()
    registry = add_tasks(app)

    async def noop(i: int) -> None:
        return None

    @app.get("/burst/{i}")
    async def burst(i: int, tasks: Tasks) -> dict[str, int]:
        tasks.schedule(noop, i)
        tasks.after_route.schedule(noop, i)
        tasks.after_response.schedule(noop, i)
        return {"i": i}

    async with lifespan_client(app) as client:
        for i in range(2000):
            response = await client.get(f"/burst/{i}")
            assert response.status_code == 200
        await wait_for_tasks(app, timeout=5)
        counters = registry.counters
        assert registry.running == []
        assert len(registry.recent) == registry.max_finished == 1000
        assert counters.scheduled == counters.succeeded == 6000
        assert counters.failed == counters.cancelled == counters.retried == 0
        snapshot = registry.snapshot()
        assert len(snapshot["recent"]) == 1000
        assert snapshot["counters"]["succeeded"] == 6000


async def test_registry_is_readable_without_a_request_and_via_app_state() -> None:
    app = FastAPI()
    registry = add_tasks(app, max_finished=3)
    assert get_registry(app) is registry
    assert app.state.fastapi_tasks is registry

    async def noop() -> None:
        return None

    scheduler = get_scheduler(app)
    for _ in range(5):
        await within(scheduler.schedule(noop).wait())
    assert [t.state for t in registry.recent] == [TaskState.SUCCEEDED] * 3
    assert registry.counters.scheduled == 5
    entry = registry.snapshot()["recent"][0]
    assert set(entry) >= {
        "id",
        "name",
        "mode",
        "state",
        "request_id",
        "route",
        "attempts",
    }
    assert "args" not in entry
    assert "kwargs" not in entry


@pytest.mark.parametrize("use_limiter", [False, True])
async def test_limit_is_never_exceeded_under_a_burst(use_limiter: bool) -> None:
    app = FastAPI()
    add_tasks(app)
    running = 0
    peak = 0
    release = anyio.Event()

    async def thumbnail(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        await anyio.lowlevel.checkpoint()
        running -= 1

    limit: int | anyio.CapacityLimiter = anyio.CapacityLimiter(3) if use_limiter else 3
    scheduler = get_scheduler(app)
    tasks = [
        scheduler.task(name="images.thumbnail", limit=limit).schedule(thumbnail, i)
        for i in range(20)
    ]
    with anyio.fail_after(2):
        for task in tasks[:3]:
            await task.started.wait()
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
    states = [t.state for t in tasks]
    assert states.count(TaskState.RUNNING) == 3
    assert states.count(TaskState.PENDING) == 17
    release.set()
    await wait_for_tasks(app, timeout=3)
    assert peak == 3
    assert all(t.state is TaskState.SUCCEEDED for t in tasks)


request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)


async def test_contextvars_are_copied_at_schedule_time_in_every_mode() -> None:
    app = FastAPI()
    add_tasks(app)
    seen: dict[str, str] = {}

    async def record(mode: str) -> None:
        seen[mode] = request_id_var.get()
        request_id_var.set("changed inside the task")  # must not leak anywhere

    @app.get("/ctx/{rid}")
    async def endpoint(rid: str, tasks: Tasks) -> dict[str, str]:
        request_id_var.set(rid)
        tasks.schedule(record, "immediate")
        tasks.after_route.schedule(record, "after_route")
        tasks.after_response.schedule(record, "after_response")
        request_id_var.set("set after scheduling")
        return {"ok": rid}

    async with lifespan_client(app) as client:
        await client.get("/ctx/req-123")
        await wait_for_tasks(app, timeout=2)
        assert seen == {
            "immediate": "req-123",
            "after_route": "req-123",
            "after_response": "req-123",
        }  # the immediate task ran first and changed its own copy only


def test_config_merge_precedence_and_shielded() -> None:
    async def handler(task: Task, error: Exception) -> None:
        return None

    base = TaskConfig(
        name="default", shield=False, on_error=handler, retries=2, timeout=5.0
    )
    override = TaskConfig(name="orders.charge", shield=True, timeout=None)
    merged = base.merge(override)
    assert merged is not base
    assert merged is not override
    assert merged.name == "orders.charge"
    assert merged.shield is True
    assert merged.shielded
    assert merged.on_error is handler
    assert merged.retries == 2
    assert merged.timeout == 5.0
    assert base == TaskConfig(
        name="default", shield=False, on_error=handler, retries=2, timeout=5.0
    )
    assert override == TaskConfig(name="orders.charge", shield=True)
    assert not TaskConfig().shielded
    assert base.merge(None) == base
    assert base.merge(None) is not base


def test_task_options_are_the_fields_of_task_config_and_each_one_merges() -> None:
    """``.task(**options)`` takes exactly ``TaskConfig``'s fields; a new field needs no edit."""
    names = [field.name for field in dataclasses.fields(TaskConfig)]
    assert list(TaskOptions.__annotations__) == names
    app = FastAPI()
    add_tasks(app)
    scheduler = get_scheduler(app)
    values: dict[str, Any] = {
        "name": "n",
        "shield": True,
        "on_error": print,
        "retries": 3,
        "retry_delay": 0.1,
        "retry_backoff": 3.0,
        "retry_jitter": 0.2,
        "retry_on": (OSError,),
        "timeout": 9.0,
        "limit": 4,
    }
    assert sorted(values) == sorted(names)
    for name, value in values.items():
        config = scheduler.task(**{name: value}).config
        assert getattr(config, name) == value
        assert config == dataclasses.replace(TaskConfig(), **{name: value})


async def test_per_task_config_wins_over_the_app_default() -> None:
    app = FastAPI()
    add_tasks(app, config=TaskConfig(shield=True, retries=1, name="default-name"))

    async def noop() -> None:
        return None

    scheduler = get_scheduler(app)
    plain = scheduler.schedule(noop)
    custom = scheduler.after_response.task(shield=False, name="custom").schedule(noop)
    await wait_for_tasks(app, timeout=2)
    assert plain.config.shielded
    assert plain.name == "default-name"
    assert not custom.config.shielded
    assert custom.name == "custom"
    assert custom.config.retries == 1


async def test_an_int_limit_is_sized_by_the_first_value_seen_for_a_name() -> None:
    app = FastAPI()
    add_tasks(app)
    release = anyio.Event()

    async def thumbnail() -> None:
        await release.wait()

    scheduler = get_scheduler(app)
    first = scheduler.task(name="images.thumbnail", limit=1).schedule(thumbnail)
    second = scheduler.task(name="images.thumbnail", limit=5).schedule(thumbnail)
    other = scheduler.task(name="images.resize", limit=1).schedule(thumbnail)
    with anyio.fail_after(2):
        await first.started.wait()
        await other.started.wait()  # another name: its own limiter
    for _ in range(5):
        await anyio.lowlevel.checkpoint()
    assert second.state is TaskState.PENDING  # the name's limiter holds 1 token
    release.set()
    await wait_for_tasks(app, timeout=2)
    assert state_of(second) is TaskState.SUCCEEDED


async def test_state_follows_the_run_and_scheduled_counts_held_running_and_filed() -> (
    None
):
    """``state`` is derived (pending, running, outcome); ``scheduled`` from active + filed."""
    registry = TaskRegistry()
    entered, release = anyio.Event(), anyio.Event()

    async def slow() -> None:
        entered.set()
        await release.wait()

    async with registry.lifespan():
        held = Task(slow, (), {}, mode=TaskMode.AFTER_ROUTE)
        never = Task(slow, (), {}, mode=TaskMode.AFTER_RESPONSE)
        registry.hold(held)
        registry.hold(never)
        assert (held.state, never.state) == (TaskState.PENDING, TaskState.PENDING)
        assert registry.counters.scheduled == 2
        registry.drop([never])  # its start point never came
        assert state_of(never) is TaskState.CANCELLED
        registry.start_held([(held, contextvars.copy_context())])
        await within(entered.wait())
        assert state_of(held) is TaskState.RUNNING
        release.set()
        await within(held.wait())
        assert state_of(held) is TaskState.SUCCEEDED
        counters = registry.counters
        assert (counters.scheduled, counters.succeeded, counters.cancelled) == (2, 1, 1)


async def test_a_task_called_by_hand_while_held_counts_that_attempt_when_it_runs() -> (
    None
):
    """The registry's own attempt adds to ``attempts``, as the runner's do."""
    registry = TaskRegistry()
    calls: list[int] = []

    async def record() -> None:
        calls.append(len(calls))

    async with registry.lifespan():
        task = Task(record, (), {}, mode=TaskMode.AFTER_ROUTE)
        registry.hold(task)
        await task()  # by hand, before its start point
        registry.start_held([(task, contextvars.copy_context())])
        await within(task.wait())
    assert (calls, task.attempts, task.state) == ([0, 1], 2, TaskState.SUCCEEDED)
