"""Misuse that ``mypy --strict`` must reject (checked by test_typing.py).

Each line marked ``# E: <code>`` must produce exactly that error; nothing else may.
This file is excluded from the project's mypy run (pyproject) because it fails on purpose.
"""

from fastapi_tasks import Task, TasksScheduler


async def charge(order_id: int, *, payment_token: str) -> None:
    return None


def misuse(tasks: TasksScheduler) -> None:
    tasks.schedule(charge, "42", payment_token="t")  # E: arg-type
    # ``schedule`` is overloaded (async / sync functions), hence call-overload here.
    tasks.schedule(charge, 1)  # E: call-overload
    tasks.after_route.schedule(charge, 1, payment_token="t", amount=3)  # E: call-arg
    tasks.after_response.task().schedule(charge, 1, payment_token=2)  # E: arg-type
    tasks.task(nme="typo")  # E: call-arg
    tasks.task(shield="yes")  # E: arg-type
    tasks.schedule("not callable")  # E: call-overload


async def count(order_id: int) -> int:
    return order_id


async def wrong_result_types(tasks: TasksScheduler) -> None:
    task = tasks.schedule(count, 1)
    await task.wait()
    text: str | None = task.result  # E: assignment
    other: Task[[str], int] = task  # E: assignment
    _ = text, other
