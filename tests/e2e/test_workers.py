"""``serve`` with two worker processes (WORKERS=2) on one database: SQLite, or PostgreSQL
with ``TEST_DATABASE_URL``.

Each request opens its own connection, so the kernel hands requests to both workers.
"""

import os
import signal
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select

from app.db import make_engine
from app.images.models import ImageRecord
from app.images.owner import owners_dir
from tests.e2e.server import ServerProcess, running_server
from tests.images.imagegen import png_bytes
from tests.polling import poll

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

WORKERS = {"WORKERS": "2"}
DESK_MAT = 5  # stock 12 in the seed
KEYBOARD = 1
# A fresh connection per request: keep-alive would pin a client to one worker.
ONE_SHOT = httpx.Limits(max_keepalive_connections=0)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(tmp_path_factory.mktemp("workers"), env=WORKERS) as running:
        yield running


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=15, limits=ONE_SHOT
    ) as client:
        yield client


async def order(http: httpx.AsyncClient, product_id: int, price: float) -> int:
    response = await http.post(
        "/orders",
        json={
            "user_id": 7,
            "email": "buyer@example.com",
            "items": [{"product_id": product_id, "quantity": 1, "price": price}],
            "payment_token": "tok_visa",
        },
    )
    assert response.status_code == 202, response.text
    order_id: int = response.json()["order_id"]
    return order_id


async def final_status(http: httpx.AsyncClient, order_id: int) -> str:
    async def check() -> str | None:
        status: str = (await http.get(f"/orders/{order_id}")).json()["status"]
        return None if status == "processing" else status

    result: str = await poll(check, deadline_s=20)
    return result


async def place_all(http: httpx.AsyncClient, count: int, product: int) -> list[str]:
    price = {p["product_id"]: p["price"] for p in (await http.get("/products")).json()}
    order_ids: list[int] = []

    async def place() -> None:
        order_ids.append(await order(http, product, price[product]))

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(place)
    return [await final_status(http, order_id) for order_id in order_ids]


async def workers_that_ran(
    http: httpx.AsyncClient, task_name: str, since: datetime
) -> set[int]:
    """Pids of the workers whose registry (per process) holds a ``task_name`` task
    scheduled after ``since``.

    Asked 8 times at once: one request at a time tends to reach the same idle worker.
    """
    seen: set[int] = set()

    async def ask() -> None:
        tasks = (await http.get("/demo/tasks")).json()
        seen.update(
            task["worker"]
            for task in tasks
            if task["name"] == task_name
            and datetime.fromisoformat(task["scheduled_at"]) >= since
        )

    async with anyio.create_task_group() as group:
        for _ in range(8):
            group.start_soon(ask)
    return seen


async def until_both_workers_ran(
    http: httpx.AsyncClient, product: int, statuses: list[str], since: datetime
) -> None:
    """More orders (``statuses`` gets theirs) until both workers charged one since."""

    async def both() -> bool:
        if len(await workers_that_ran(http, "orders.charge_payment", since)) == 2:
            return True
        statuses.extend(await place_all(http, 6, product))
        return False

    await poll(both, deadline_s=30)


async def test_30_concurrent_orders_for_12_units_confirm_exactly_12(
    http: httpx.AsyncClient,
) -> None:
    started = datetime.now(UTC)
    statuses = await place_all(http, 30, DESK_MAT)
    assert statuses.count("confirmed") == 12, statuses
    assert statuses.count("inventory_failed") == 18, statuses
    desk_mat = next(
        p for p in (await http.get("/products")).json() if p["product_id"] == DESK_MAT
    )
    assert desk_mat["available"] == 0
    # both workers took orders (the sold-out desk mat: later ones change nothing)
    await until_both_workers_ran(http, DESK_MAT, statuses, started)
    assert statuses.count("confirmed") == 12, statuses


async def test_a_fault_set_once_applies_to_both_workers(
    http: httpx.AsyncClient,
) -> None:
    switched = datetime.now(UTC)
    response = await http.put("/demo/faults", json={"payment": "decline"})
    assert response.status_code == 200
    try:
        statuses = await place_all(http, 12, KEYBOARD)
        await until_both_workers_ran(http, KEYBOARD, statuses, switched)
        # every worker read the switch from the shared fakes.db
        assert set(statuses) == {"payment_failed"}, statuses
    finally:
        await http.put("/demo/faults", json={"payment": "ok"})


def live_owner_pids(data_dir: Path) -> dict[str, int]:
    """owner name -> pid, from the lock files of the runs still registered."""
    owners: dict[str, int] = {}
    for path in owners_dir(data_dir).glob("*.lock"):
        text = path.read_text().strip()
        if text.isdigit():
            owners[path.name.removesuffix(".lock")] = int(text)
    return owners


async def images_by_owner(database_url: str, ids: list[int]) -> list[Any]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(ImageRecord.id, ImageRecord.owner, ImageRecord.status).where(
                    ImageRecord.id.in_(ids)
                )
            )
            return list(rows.all())
    finally:
        await engine.dispose()


async def test_killing_one_worker_mid_burst_fails_no_image_of_the_other(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "server"
    env = {**WORKERS, "IMAGE_JOBS_LIMIT": "1"}  # uploads queue up in both workers
    picture = png_bytes((1600, 1200))  # a few tenths of a second to process
    with running_server(data_dir, env=env) as server:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=15, limits=ONE_SHOT
        ) as http:
            accepted: list[int] = []
            refused = 0

            async def upload() -> None:
                nonlocal refused
                try:
                    response = await http.post(
                        "/upload-image",
                        params={"user_id": 3},
                        files={"file": ("p.png", picture, "image/png")},
                    )
                except httpx.TransportError:
                    refused += 1  # sent to the worker as it died: never accepted
                    return
                if response.status_code == 202:
                    accepted.append(response.json()["image_id"])

            async def burst() -> None:
                async with anyio.create_task_group() as group:
                    for _ in range(8):
                        group.start_soon(upload)

            # Until both workers hold uploads still processing (each burst lands
            # wherever the kernel hands the connections).
            async def both_busy() -> dict[str, int] | None:
                await burst()
                rows = await images_by_owner(server.database_url, accepted)
                busy = {row.owner for row in rows if row.status == "processing"}
                owners = live_owner_pids(data_dir)
                return owners if len(busy & owners.keys()) == 2 else None

            before: dict[str, int] = await poll(both_busy, deadline_s=20)
            victim = min(before.values())
            os.kill(victim, signal.SIGKILL)
            await burst()

            async def replaced() -> bool:
                pids = set(live_owner_pids(data_dir).values())
                return len(pids) == 2 and victim not in pids

            await poll(replaced, deadline_s=20)

            async def settled() -> list[Any] | None:
                rows = await images_by_owner(server.database_url, accepted)
                done = all(row.status != "processing" for row in rows)
                return rows if done else None

            rows: list[Any] = await poll(settled, deadline_s=30)

    killed = {name for name, pid in before.items() if pid == victim}
    # the other worker's uploads, and the replacement's
    survivor_rows = [row for row in rows if row.owner not in killed]
    victim_rows = [row for row in rows if row.owner in killed]
    print(  # noqa: T201 - the figures, as make chaos prints its own
        f"\nworkers: {len(accepted)} uploads accepted, {refused} refused by the dying"
        f" worker; other workers {len(survivor_rows)} (all ready), killed worker"
        f" {len(victim_rows)}: {sorted(row.status for row in victim_rows)}"
    )
    assert victim_rows, "the killed worker held no upload"
    assert survivor_rows, "the surviving worker took no upload"
    assert [row.status for row in survivor_rows] == ["ready"] * len(survivor_rows)
