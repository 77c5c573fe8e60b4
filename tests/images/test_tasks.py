import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.clients.cdn import CdnClient
from app.config import Settings
from app.images import processing, router, tasks
from app.images.storage import UploadPaths
from app.images.task_error_handlers import describe_failure, on_process_upload_failed
from app.main import create_app
from app.mocks import FakeServices
from fastapi_tasks import Task, TaskState, get_registry
from fastapi_tasks.testing import wait_for_tasks

from .conftest import StuckRender, files_under
from .imagegen import animated_gif_bytes, png_bytes, rgba_png_bytes
from .test_router import stored_records, upload

pytestmark = pytest.mark.anyio

DEADLINE_S = 5.0


async def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until true, failing after a deadline (never a fixed sleep)."""
    with anyio.fail_after(DEADLINE_S):
        while not check():  # noqa: ASYNC110 - polling state that has no event
            await anyio.sleep(0.01)
    assert check(), what


async def test_cdn_down_marks_image_failed_and_removes_temp_files(
    app: FastAPI,
    client: httpx.AsyncClient,
    fakes: FakeServices,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fakes.set_faults(cdn="down")
    caplog.set_level(logging.WARNING, logger="app.images.task_error_handlers")
    response = await upload(client, png_bytes((320, 200)))
    image_id = response.json()["image_id"]
    await wait_for_tasks(app, timeout=5)

    image = (await client.get(f"/images/{image_id}")).json()
    assert image["status"] == "failed"
    assert image["error"] == "HTTPStatusError: the CDN answered 503"
    assert image["thumbnail_url"] is None
    assert files_under(settings.upload_dir) == []
    assert files_under(settings.data_dir / "cdn") == []
    # the error handler ran: it logs the task name, the id and the type, nothing else
    [record] = [r for r in caplog.records if r.name == "app.images.task_error_handlers"]
    assert record.getMessage() == (
        f"images.process_upload: image {image_id} failed (HTTPStatusError)"
    )
    assert str(settings.upload_dir) not in caplog.text
    [task] = [t for t in get_registry(app).recent if t.name == "images.process_upload"]
    assert task.state == TaskState.FAILED


async def test_ready_image_uploads_three_files_and_tracks_analytics(
    app: FastAPI, client: httpx.AsyncClient, fakes: FakeServices, settings: Settings
) -> None:
    response = await upload(client, rgba_png_bytes((600, 300)), user_id=12)
    image_id = response.json()["image_id"]
    await wait_for_tasks(app, timeout=5)

    image = (await client.get(f"/images/{image_id}")).json()
    assert image["status"] == "ready"
    assert (image["width"], image["height"]) == (600, 300)
    assert image["optimized_url"].endswith("/optimized.png")  # transparency kept
    cdn_dir = settings.data_dir / "cdn" / "images" / "12" / str(image_id)
    assert [p.name for p in files_under(cdn_dir)] == [
        "optimized.png",
        "original.png",
        "thumbnail.png",
    ]
    puts = fakes.calls_to("cdn")
    assert len(puts) == 3
    assert all(call.method == "PUT" and call.status == 201 for call in puts)
    assert files_under(settings.upload_dir) == []

    def tracked() -> bool:
        return any(
            event.get("event") == "image_uploaded"
            and event.get("properties", {}).get("image_id") == image_id
            for event in fakes.analytics_events
        )

    await eventually(tracked, "image_uploaded reached the analytics service")


async def test_the_three_cdn_uploads_run_in_parallel(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # each upload waits until all three have started: one after the other, the first
    # would time out and the image would fail
    started: list[str] = []
    all_started = anyio.Event()
    real_upload = CdnClient.upload

    async def gathering_upload(
        self: CdnClient, *, path: str, source: Path, content_type: str
    ) -> str:
        started.append(path.rsplit("/", 1)[-1])
        if len(started) == 3:
            all_started.set()
        with anyio.fail_after(2):
            await all_started.wait()
        return await real_upload(
            self, path=path, source=source, content_type=content_type
        )

    monkeypatch.setattr(CdnClient, "upload", gathering_upload)
    response = await upload(client, png_bytes((320, 200)))
    await wait_for_tasks(app, timeout=5)

    image = (await client.get(f"/images/{response.json()['image_id']}")).json()
    assert image["status"] == "ready", image["error"]
    assert sorted(started) == ["optimized.jpg", "original.png", "thumbnail.jpg"]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def test_pillow_work_never_runs_on_the_event_loop(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: dict[str, bool] = {}
    real_inspect = processing.inspect_image
    real_render = processing.render_variants

    def inspect(*args: Any, **kwargs: Any) -> processing.ImageInfo:
        calls["inspect_image"] = _on_event_loop()
        return real_inspect(*args, **kwargs)

    def render(*args: Any, **kwargs: Any) -> processing.RenderedImage:
        calls["render_variants"] = _on_event_loop()
        return real_render(*args, **kwargs)

    # the router imported the function by name: patch it where it is looked up
    monkeypatch.setattr(router, "inspect_image", inspect)
    monkeypatch.setattr(processing, "render_variants", render)
    response = await upload(client, png_bytes((320, 200)))
    await wait_for_tasks(app, timeout=5)

    image = (await client.get(f"/images/{response.json()['image_id']}")).json()
    assert image["status"] == "ready", image["error"]
    assert calls == {"inspect_image": False, "render_variants": False}


async def test_burst_runs_at_most_image_jobs_limit_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.image_jobs_limit == 2
    release = threading.Event()
    lock = threading.Lock()
    running = 0
    most = 0
    real_render = processing.render_variants

    def held_render(*args: Any, **kwargs: Any) -> processing.RenderedImage:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            release.wait(timeout=DEADLINE_S)
            return real_render(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(processing, "render_variants", held_render)
    ids = []
    for _ in range(5):
        response = await upload(client, png_bytes((64, 64)))
        ids.append(response.json()["image_id"])

    registry = get_registry(app)

    def jobs(state: TaskState) -> list[Task]:
        return [
            t
            for t in registry.running
            if t.name == "images.process_upload" and t.state == state
        ]

    await eventually(
        lambda: len(jobs(TaskState.RUNNING)) == 2 and len(jobs(TaskState.PENDING)) == 3,
        "two jobs run, three wait",
    )
    await eventually(lambda: running == 2, "both running jobs reached Pillow")
    release.set()
    await wait_for_tasks(app, timeout=5)
    assert most == 2
    for image_id in ids:
        assert (await client.get(f"/images/{image_id}")).json()["status"] == "ready"
    assert files_under(settings.upload_dir) == []


async def test_shutdown_during_processing_marks_failed_and_cleans_up(
    settings: Settings, stuck_render: StuckRender
) -> None:
    app = create_app(settings)
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test"
            ) as http:
                response = await upload(http, animated_gif_bytes((40, 40)))
                assert response.status_code == 202
                await stuck_render.wait_entered()
            # leaving the lifespan cancels the (non-shielded) task mid-processing
    finally:
        stuck_render.release.set()
    [record] = await stored_records(settings)
    assert record.status == "failed"
    assert record.error == tasks.CANCELLED_ERROR
    assert files_under(settings.upload_dir) == []


async def test_error_handler_never_raises_and_still_cleans_up(tmp_path: Path) -> None:
    paths = UploadPaths.generate(tmp_path)
    for path in paths.all():
        path.write_bytes(b"x")

    def broken_sessions() -> Any:
        raise RuntimeError("database is gone")

    await on_process_upload_failed(
        _FakeTask(),  # type: ignore[arg-type]
        OSError("/secret/path/file.upload: No space left on device"),
        image_id=1,
        paths=paths,
        sessions=broken_sessions,  # type: ignore[arg-type]
    )
    assert files_under(tmp_path) == []


class _FakeTask:
    name = "images.process_upload"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            httpx.HTTPStatusError(
                "503 at https://cdn.test/upload/x?key=secret",
                request=httpx.Request("PUT", "https://cdn.test/upload/x"),
                response=httpx.Response(503),
            ),
            "HTTPStatusError: the CDN answered 503",
        ),
        (
            httpx.ConnectError("connect to 10.0.0.1 failed"),
            "ConnectError: the CDN could not be reached",
        ),
        (httpx.ReadTimeout("read"), "ReadTimeout: the CDN did not answer in time"),
        (
            processing.InvalidImageError("The image has too many pixels"),
            "InvalidImageError: The image has too many pixels",
        ),
        (
            OSError("/data/uploads/abc.upload: disk full"),
            "OSError: the image could not be read or written",
        ),
        (ValueError("anything /with/a/path"), "ValueError: image processing failed"),
    ],
)
def test_describe_failure_keeps_type_and_safe_text_only(
    error: Exception, expected: str
) -> None:
    assert describe_failure(error) == expected
