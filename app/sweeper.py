"""The sweeper: what a dead process promised, resumed at startup and then periodically.

In-process tasks die with their process. Everything they were doing that was promised is
recorded in the database first, so one loop owned by the lifespan can finish it: outbox
rows whose delivery task is gone, and orders left ``processing`` by a crash.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial

import anyio

from app.db import utcnow

logger = logging.getLogger(__name__)

# One job: "finish what is due"; returns how many things it finished. The first run passes
# ``orphaned_before`` = the moment this process started: whatever was left unfinished
# before it belongs to a dead process. Later runs pass None and respect leases and back-off.
SweepJob = Callable[..., Awaitable[int]]


async def sweep(
    jobs: Sequence[tuple[str, SweepJob]], *, orphaned_before: datetime | None
) -> None:
    """Run each job once; one failing job does not stop the others."""
    for name, job in jobs:
        try:
            done = await job(orphaned_before=orphaned_before)
        except Exception as exc:
            logger.error("sweeper: %s failed: %s", name, type(exc).__name__)
            continue
        if done:
            logger.info("sweeper: %s finished %d", name, done)


async def run_sweeper(
    jobs: Sequence[tuple[str, SweepJob]], *, interval_s: float, started_at: datetime
) -> None:
    """Sweep what predates ``started_at``, then every ``interval_s`` until cancelled."""
    await sweep(jobs, orphaned_before=started_at)
    while True:
        await anyio.sleep(interval_s)
        await sweep(jobs, orphaned_before=None)


@asynccontextmanager
async def sweeper_running(
    jobs: Sequence[tuple[str, SweepJob]], *, interval_s: float
) -> AsyncIterator[None]:
    """Run the sweeper in the background for the duration of the block."""
    # Taken before the app serves: orders and rows of this process are never "orphans".
    started_at = utcnow()
    async with anyio.create_task_group() as group:
        group.start_soon(
            partial(run_sweeper, jobs, interval_s=interval_s, started_at=started_at)
        )
        try:
            yield
        finally:
            group.cancel_scope.cancel()
