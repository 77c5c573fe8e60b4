"""The sweeper beside live sibling workers: its first pass takes no orphans."""

from collections.abc import Sequence
from datetime import datetime

import anyio
import pytest

from app.sweeper import Sweeper, SweepJob

pytestmark = pytest.mark.anyio


async def test_without_orphans_every_pass_respects_leases() -> None:
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
        async with sweeper.running(sweep_orphans=False):
            await done.wait()
    assert asked[:2] == [None, None]
