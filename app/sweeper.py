"""The sweeper: what a dead process promised, resumed at startup and then periodically.

In-process tasks die with their process. Everything they were doing that was promised is
recorded in the database first, so one loop owned by the lifespan can finish it: outbox
rows whose delivery task is gone, and orders left ``processing`` by a crash.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial

import anyio

logger = logging.getLogger(__name__)

# One job: "resume what is due" (``startup=True`` on the first run: every lease and
# hand-off then belongs to a dead process). Returns how many things it finished.
SweepJob = Callable[..., Awaitable[int]]


async def sweep(jobs: Sequence[tuple[str, SweepJob]], *, startup: bool) -> None:
    """Run each job once; one failing job does not stop the others."""
    for name, job in jobs:
        try:
            done = await job(startup=startup)
        except Exception as exc:
            logger.error("sweeper: %s failed: %s", name, type(exc).__name__)
            continue
        if done:
            logger.info("sweeper: %s finished %d", name, done)


async def run_sweeper(
    jobs: Sequence[tuple[str, SweepJob]], *, interval_s: float
) -> None:
    """Sweep at startup, then every ``interval_s`` until cancelled."""
    await sweep(jobs, startup=True)
    while True:
        await anyio.sleep(interval_s)
        await sweep(jobs, startup=False)


@asynccontextmanager
async def sweeper_running(
    jobs: Sequence[tuple[str, SweepJob]], *, interval_s: float
) -> AsyncIterator[None]:
    """Run the sweeper in the background for the duration of the block."""
    async with anyio.create_task_group() as group:
        group.start_soon(partial(run_sweeper, jobs, interval_s=interval_s))
        try:
            yield
        finally:
            group.cancel_scope.cancel()
