"""What the example steps share: registering a step, waiting for tasks, checking fields."""

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from walkthrough import timing
from walkthrough.runner import Endpoint, Step, StepContext, StepFn, newer

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})


def step(title: str, *endpoints: str) -> Callable[[StepFn], Step]:
    """Make the decorated coroutine a step; ``walkthrough.steps`` puts the steps in order."""

    def make(run: StepFn) -> Step:
        return Step(title, tuple(Endpoint.parse(e) for e in endpoints), run)

    return make


def mentions(text: object, number: int) -> bool:
    """Whether ``number`` appears in ``text`` as a whole number (``2`` not in ``21``)."""
    return re.search(rf"(?<!\d){number}(?!\d)", str(text)) is not None


def by_name(
    tasks: list[dict[str, Any]], names: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """The newest task of each name in ``names`` (``tasks`` is newest first)."""
    found: dict[str, dict[str, Any]] = {}
    for task in tasks:
        if task["name"] in names and task["name"] not in found:
            found[task["name"]] = task
    return found


async def wait_for_tasks(
    ctx: StepContext,
    names: Mapping[str, str],
    since: datetime | None,
    *,
    deadline_s: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Poll ``/demo/tasks`` until every named task scheduled after ``since`` has finished."""

    async def fetch() -> dict[str, dict[str, Any]]:
        return by_name(newer(await ctx.tasks(), "scheduled_at", since), names)

    def done(found: dict[str, dict[str, Any]]) -> bool:
        return len(found) == len(names) and all(
            t["state"] in TERMINAL for t in found.values()
        )

    return await ctx.poll(
        f"/demo/tasks: {', '.join(names)} finished",
        fetch,
        done,
        deadline_s=timing.SETTLE_DEADLINE_S if deadline_s is None else deadline_s,
    )


def check_modes(
    ctx: StepContext,
    found: dict[str, dict[str, Any]],
    modes: Mapping[str, str],
    states: Mapping[str, str] | None = None,
) -> None:
    """Each task ran in its timing mode and ended in the expected state."""
    states = states or {}
    for name, mode in modes.items():
        task = found.get(name, {})
        state = states.get(name, "succeeded")
        ctx.check(
            f"{name}: {mode}, {state}",
            task.get("mode") == mode and task.get("state") == state,
            {key: task.get(key) for key in ("mode", "state", "attempts", "error")},
        )


def check_fields(
    ctx: StepContext, body: Mapping[str, Any], expected: Mapping[str, Any]
) -> None:
    shown = ", ".join(f"{key}={value}" for key, value in expected.items())
    ctx.check(
        shown,
        all(body.get(key) == value for key, value in expected.items()),
        {key: body.get(key) for key in expected},
    )


async def set_fault(ctx: StepContext, service: str, fault: str) -> None:
    """``PUT /demo/faults {service: fault}``; the answer must show it."""
    response = await ctx.call("PUT", "/demo/faults", json_body={service: fault})
    ok = response.status_code == 200 and response.json().get(service) == fault
    ctx.must(
        f'PUT /demo/faults {{"{service}": "{fault}"}} → 200, {service} is {fault!r}',
        ok,
        f"HTTP {response.status_code} {response.text}",
    )
