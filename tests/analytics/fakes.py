"""Fakes for the tracker's three outlets (service, database, alerts) and clocks."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from app.analytics.schemas import TrackedEvent


class ManualClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SteppingWallClock:
    """Server timestamps one microsecond apart, so every event is distinguishable."""

    def __init__(self) -> None:
        self._next = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        now = self._next
        self._next += timedelta(microseconds=1)
        return now


class Outlet:
    """Records what it is given; can be made to fail or to hang until released."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[Any] = []
        self.failing = False
        self.gate: anyio.Event | None = None
        self.entered = 0
        self._changed = anyio.Event()

    def hold(self) -> None:
        self.gate = anyio.Event()

    def release(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.gate = None

    async def _visit(self, value: Any) -> None:
        self.entered += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise ConnectionError(f"{self.name} is down")
        self.calls.append(value)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for_calls(self, count: int) -> None:
        """Wait (on an event, not a timer) until ``count`` calls succeeded."""
        while len(self.calls) < count:
            await self._changed.wait()


class FakeService(Outlet):
    async def send(self, events: list[dict[str, Any]]) -> None:
        await self._visit(events)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.calls for event in batch]


class FakeStore(Outlet):
    async def store(self, events: Sequence[TrackedEvent]) -> None:
        await self._visit([event.to_payload() for event in events])

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.calls for event in batch]


class FakeAlerts(Outlet):
    async def send(self, text: str) -> None:
        await self._visit(text)
