"""``/demo``: the fake systems' outbox, calls, payments, shipments and faults; recent tasks.

Mounted only in mock mode. Everything shown here is already redacted (no tokens, no keys).
The fakes keep their state in a SQLite file, so reads run in a worker thread.
"""

import os
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.demo.allowed_methods import answer_every_method
from app.errors import UNREADABLE_BODY
from app.mocks import (
    FakeServices,
    Faults,
    FaultsUpdate,
    Payments,
    RecordedCall,
    Shipment,
)
from fastapi_tasks import Task, TaskState, get_registry

router = APIRouter(prefix="/demo", tags=["demo"])

ServiceName = Literal["payment", "email", "cdn", "warehouse", "analytics", "alerts"]


class OutboxEmail(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "to": "ada@example.com",
                    "subject": "Order #1 confirmed",
                    "template": "order_confirmation",
                    "data": {"order_id": 1, "total": "59.98"},
                    "sent_at": "2026-11-24T10:00:00.350000Z",
                    "idempotency_key": "order-1-confirmation",
                }
            ]
        }
    )

    to: str
    subject: str
    template: str
    data: dict[str, Any]
    sent_at: datetime
    idempotency_key: str | None = None


class TaskInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "orders.charge_payment",
                    "mode": "immediate",
                    "state": "succeeded",
                    "attempts": 1,
                    "scheduled_at": "2026-11-24T10:00:00.100000Z",
                    "started_at": "2026-11-24T10:00:00.100200Z",
                    "finished_at": "2026-11-24T10:00:00.130000Z",
                    "error": None,
                    "request_id": "7",
                    "route": "POST /orders",
                    "skipped": False,
                    "worker": 4242,
                }
            ]
        }
    )

    name: str
    mode: Literal["immediate", "after_route", "after_response"]
    state: Literal["pending", "running", "succeeded", "failed", "cancelled"]
    attempts: int
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    request_id: str | None = None
    route: str | None = None
    skipped: bool = Field(
        default=False,
        description="Succeeded having done nothing: the task returned 0, the count of "
        "what it did (e.g. the warehouse is not told of a failed order)",
    )
    worker: int = Field(
        default_factory=os.getpid,
        description="pid of the server process that ran it: the task registry is per "
        "process, so with several workers each lists its own tasks",
    )


async def get_fakes(request: Request) -> FakeServices:
    """The fake systems' state (mock mode only; this router is not mounted otherwise)."""
    fakes: FakeServices = request.state.fakes
    return fakes


FakesDep = Annotated[FakeServices, Depends(get_fakes)]


def _when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def did_nothing(task: Task) -> bool:
    """Whether a task that reports how many things it did (an ``int``) did none."""
    result = task.result
    # type() rather than isinstance(): a bool is an answer, not a count
    return task.state is TaskState.SUCCEEDED and type(result) is int and result == 0


def task_info(task: Task) -> TaskInfo:
    """What the dashboard shows of a task: never its arguments or its result's value."""
    request_id = getattr(task, "request_id", None)
    return TaskInfo(
        name=task.name,
        mode=task.mode.value,
        state=task.state.value,
        attempts=task.attempts,
        scheduled_at=_when(task.scheduled_at),
        started_at=_when(task.started_at),
        finished_at=_when(task.finished_at),
        error=None if task.error is None else type(task.error).__name__,
        request_id=None if request_id is None else str(request_id),
        route=getattr(task, "route", None),
        skipped=did_nothing(task),
    )


# Without a limit the whole history is returned (the contract); the dashboard asks for the
# newest few only, so a busy demo does not ship megabytes every second.
Newest = Annotated[
    int | None,
    Query(
        ge=1, le=10_000, description="Only the newest N entries (still oldest first)"
    ),
]
TOTAL_COUNT = {
    "X-Total-Count": {
        "description": "How many entries are kept in all",
        "schema": {"type": "integer"},
    }
}


@router.get(
    "/outbox",
    summary="E-mails the fake e-mail service accepted, oldest first",
    responses={200: {"headers": TOTAL_COUNT}},
)
async def list_outbox(
    fakes: FakesDep, response: Response, limit: Newest = None
) -> list[OutboxEmail]:
    total, mails = await anyio.to_thread.run_sync(fakes.recent_outbox, limit)
    response.headers["X-Total-Count"] = str(total)
    return [OutboxEmail.model_validate(email) for email in mails]


@router.get(
    "/calls",
    summary="Calls the fake systems received, oldest first",
    responses={200: {"headers": TOTAL_COUNT}},
)
async def list_calls(
    fakes: FakesDep,
    response: Response,
    service: Annotated[ServiceName | None, Query()] = None,
    limit: Newest = None,
) -> list[RecordedCall]:
    total, calls = await anyio.to_thread.run_sync(fakes.recent_calls, service, limit)
    response.headers["X-Total-Count"] = str(total)
    return calls


@router.get(
    "/payments", summary="Charges and refunds the fake gateway made, oldest first"
)
async def list_payments(fakes: FakesDep) -> Payments:
    return await anyio.to_thread.run_sync(lambda: fakes.payments)


@router.get("/shipments", summary="Shipments the fake warehouse accepted, oldest first")
async def list_shipments(fakes: FakesDep) -> list[Shipment]:
    return await anyio.to_thread.run_sync(lambda: fakes.shipments)


@router.get("/faults", summary="Current fault settings of the fake systems")
async def get_faults(fakes: FakesDep) -> Faults:
    return await anyio.to_thread.run_sync(lambda: fakes.faults)


@router.put(
    "/faults",
    summary="Make fake systems fail, to watch error handlers fire",
    responses=UNREADABLE_BODY,
)
async def update_faults(body: FaultsUpdate, fakes: FakesDep) -> Faults:
    changes = body.model_dump(exclude_none=True)
    return await anyio.to_thread.run_sync(partial(fakes.set_faults, **changes))


@router.get("/tasks", summary="Running and recent background tasks, newest first")
async def list_tasks(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[TaskInfo]:
    registry = get_registry(request.app)
    tasks = {task.id: task for task in [*registry.recent, *registry.running]}
    newest_first = sorted(tasks.values(), key=lambda task: task.id, reverse=True)
    return [task_info(task) for task in newest_first[:limit]]


# Last, after every route above: OPTIONS /demo/faults names PUT as well as GET.
answer_every_method(router)
