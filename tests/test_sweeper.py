"""The sweeper's loop: every job at each pass, orphans first, and a clean stop."""

from collections.abc import Sequence
from datetime import datetime

import anyio
import pytest

from app.db import utcnow
from app.sweeper import Sweeper, SweepJob

pytestmark = pytest.mark.anyio


async def first_two_passes(*, sweep_orphans: bool) -> list[datetime | None]:
    """What the sweeper's first two passes asked its job for (``orphaned_before``)."""
    asked: list[datetime | None] = []
    done = anyio.Event()

    async def due(orphaned_before: datetime | None) -> Sequence[int]:
        asked.append(orphaned_before)
        if len(asked) == 2:
            done.set()
        return []

    async def finish(item: int, orphaned: bool) -> bool:
        return True

    sweeper = Sweeper([SweepJob("test", due, finish)], interval_s=0.01)
    with anyio.fail_after(5):
        async with sweeper.running(sweep_orphans=sweep_orphans):
            await done.wait()
    return asked[:2]


async def test_the_first_pass_takes_orphans_then_what_comes_due() -> None:
    before = utcnow()
    first, second = await first_two_passes(sweep_orphans=True)
    assert first is not None
    assert first >= before  # the process's start
    assert second is None


async def test_beside_a_live_sibling_every_pass_respects_leases() -> None:
    # serve --workers N: work predating this worker may be a live sibling's in flight.
    assert await first_two_passes(sweep_orphans=False) == [None, None]


async def test_stopping_lets_the_item_in_hand_finish_and_takes_no_more() -> None:
    started, release = anyio.Event(), anyio.Event()
    finished: list[int] = []

    async def due(orphaned_before: datetime | None) -> Sequence[int]:
        return [1, 2]

    async def finish(item: int, orphaned: bool) -> bool:
        started.set()
        await release.wait()
        finished.append(item)
        return True

    async def release_item() -> None:
        release.set()

    sweeper = Sweeper([SweepJob("test", due, finish)], interval_s=60)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as outer, sweeper.running():
            await started.wait()
            # Released only once the block is already waiting to close.
            outer.start_soon(release_item)

    assert finished == [1]


async def test_a_failing_item_or_job_does_not_stop_the_others() -> None:
    finished: list[tuple[str, int]] = []

    async def broken_due(orphaned_before: datetime | None) -> Sequence[int]:
        raise RuntimeError("database is locked")

    async def due(orphaned_before: datetime | None) -> Sequence[int]:
        return [1, 2]

    async def finish(item: int, orphaned: bool) -> bool:
        if item == 1:
            raise RuntimeError("gateway down")
        finished.append(("ok", item))
        return True

    sweeper = Sweeper(
        [SweepJob("broken", broken_due, finish), SweepJob("ok", due, finish)],
        interval_s=60,
    )

    assert await sweeper.sweep() == 1
    assert finished == [("ok", 2)]
