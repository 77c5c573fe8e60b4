"""The sweeper: what a dead process promised, resumed at startup and then periodically.

In-process tasks die with their process. Everything they were doing that was promised is
recorded in the database first, so one loop owned by the lifespan can finish it: outbox
rows whose delivery task is gone, and orders left ``processing`` by a crash.
"""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import anyio

from app.db import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepJob:
    """One kind of unfinished work: which items are due, and how to finish one.

    ``due(orphaned_before)``: with a moment (the startup sweep passes the process's start),
    everything left unfinished before it, which belongs to a dead process; with None, what
    is due now (leases and back-off respected). ``finish(item, orphaned)`` finishes one
    item and says whether it is done; an exception is logged and the item comes up again.
    """

    name: str
    due: Callable[[datetime | None], Awaitable[Sequence[int]]]
    finish: Callable[[int, bool], Awaitable[bool]]


class Sweeper:
    """Runs its jobs at startup, then every ``interval_s``; stops between two items."""

    def __init__(self, jobs: Sequence[SweepJob], *, interval_s: float) -> None:
        self.jobs = jobs
        self.interval_s = interval_s
        self._stopping = anyio.Event()

    async def sweep(self, *, orphaned_before: datetime | None = None) -> int:
        """One pass over every job; returns how many items it finished."""
        finished = 0
        for job in self.jobs:
            try:
                items = await job.due(orphaned_before)
            except Exception as exc:
                logger.error("sweeper: %s: %s", job.name, type(exc).__name__)
                continue
            for item in items:
                if self._stopping.is_set():
                    return finished
                # Never cut an item in half at shutdown (between a delivery and its
                # bookkeeping, say): the lifespan waits for it, bounded by its timeouts.
                with anyio.CancelScope(shield=True):
                    try:
                        finished += await job.finish(item, orphaned_before is not None)
                    except Exception as exc:
                        logger.error(
                            "sweeper: %s %s: %s", job.name, item, type(exc).__name__
                        )
        if finished:
            logger.info("sweeper finished %d item(s)", finished)
        return finished

    async def run(self, started_at: datetime | None) -> None:
        """Sweep what predates ``started_at`` (if given), then what comes due, until stopped."""
        orphaned_before = started_at
        while not self._stopping.is_set():
            await self.sweep(orphaned_before=orphaned_before)
            orphaned_before = None
            with anyio.move_on_after(self.interval_s):
                await self._stopping.wait()

    @asynccontextmanager
    async def running(self, *, sweep_orphans: bool = True) -> AsyncIterator[None]:
        """Sweep in the background for the duration of the block.

        ``sweep_orphans=False`` when other workers of the server are alive: what predates
        this process may be theirs, in flight. The first pass then respects leases and
        ``stuck_after`` like every later one, and a dead worker's leftovers are finished
        once those run out.
        """
        # Taken before the app serves: orders and rows of this process are never orphans.
        started_at = utcnow() if sweep_orphans else None
        async with anyio.create_task_group() as group:
            group.start_soon(self.run, started_at)
            try:
                yield
            finally:
                self._stopping.set()  # the item in hand finishes, then the loop ends
