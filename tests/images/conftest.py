"""Image tests: small limits so oversize and bomb cases stay cheap."""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from app.config import Settings
from app.images import processing

MAX_UPLOAD_BYTES = 256 * 1024
MAX_PIXELS = 4_000_000
STUCK_DEADLINE_S = 5.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "max_upload_bytes": MAX_UPLOAD_BYTES,
            "image_max_pixels": MAX_PIXELS,
            "image_jobs_limit": 2,
            "public_base_url": "http://test",
        }
    )


def files_under(directory: Path) -> list[Path]:
    """Every file below ``directory`` (empty if it does not exist)."""
    if not directory.exists():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file())


class StuckRender:
    """Stands in for ``processing.render_variants``: blocks its worker thread until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> processing.RenderedImage:
        self.entered.set()
        self.release.wait(timeout=STUCK_DEADLINE_S)
        raise RuntimeError("never finishes in this test")

    async def wait_entered(self) -> None:
        """Return once a job is inside the render (fails after the deadline)."""
        with anyio.fail_after(STUCK_DEADLINE_S):
            await anyio.to_thread.run_sync(self.entered.wait)


@pytest.fixture
def stuck_render(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckRender]:
    """Processing that never finishes; released at teardown at the latest."""
    stub = StuckRender()
    monkeypatch.setattr(processing, "render_variants", stub)
    yield stub
    stub.release.set()


class HeldRender:
    """The real ``processing.render_variants``, entered only once the test releases it."""

    def __init__(self, render: Callable[..., processing.RenderedImage]) -> None:
        self._render = render
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> processing.RenderedImage:
        self.entered.set()
        if not self.release.wait(timeout=STUCK_DEADLINE_S):
            raise RuntimeError("the test never released the render")
        return self._render(*args, **kwargs)

    async def wait_entered(self) -> None:
        """Return once a job is waiting at the render (fails after the deadline)."""
        with anyio.fail_after(STUCK_DEADLINE_S):
            await anyio.to_thread.run_sync(self.entered.wait)


@pytest.fixture
def held_render(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldRender]:
    """Processing that waits for ``release``; released at teardown at the latest."""
    held = HeldRender(processing.render_variants)
    monkeypatch.setattr(processing, "render_variants", held)
    yield held
    held.release.set()
