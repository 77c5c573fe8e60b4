import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.images import recovery, tasks
from app.main import create_app
from fastapi_tasks import TaskState, get_registry

from .conftest import StuckRender, files_under
from .imagegen import png_bytes
from .test_router import stored_records, upload
from .test_tasks import eventually

pytestmark = pytest.mark.anyio


async def test_restart_cleans_up_after_jobs_that_never_started(
    settings: Settings, stuck_render: StuckRender
) -> None:
    settings = settings.model_copy(update={"image_jobs_limit": 1})
    app = create_app(settings)
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t"
            ) as http:
                first = (await upload(http, png_bytes((30, 30)))).json()["image_id"]
                second = (await upload(http, png_bytes((30, 30)))).json()["image_id"]
                await stuck_render.wait_entered()
                registry = get_registry(app)
                await eventually(
                    lambda: (
                        [t.state for t in registry.running]
                        == [TaskState.RUNNING, TaskState.PENDING]
                    ),
                    "one job runs, one waits for the limit",
                )
    finally:
        stuck_render.release.set()

    # the running job recorded its cancellation; the waiting one never ran at all
    before = {r.id: (r.status, r.error) for r in await stored_records(settings)}
    assert before[first] == ("failed", tasks.CANCELLED_ERROR)
    assert before[second] == ("processing", None)
    assert len(files_under(settings.upload_dir)) == 1  # the waiting job's upload

    async with LifespanManager(create_app(settings)):
        pass
    after = {r.id: (r.status, r.error) for r in await stored_records(settings)}
    assert after[second] == ("failed", recovery.INTERRUPTED_ERROR)
    assert after[first] == before[first]
    assert files_under(settings.upload_dir) == []


def test_only_generated_names_are_swept(settings: Settings) -> None:
    upload_dir = settings.upload_dir
    upload_dir.mkdir(parents=True)
    orphans = [
        upload_dir / f"{'a' * 32}.{kind}"
        for kind in ("upload", "optimized", "thumbnail")
    ]
    foreign = [upload_dir / "notes.txt", upload_dir / f"{'a' * 32}.jpg"]
    for path in orphans + foreign:
        path.write_bytes(b"x")
    assert recovery.remove_orphaned_files(upload_dir) == 3
    assert files_under(upload_dir) == sorted(foreign)
    assert recovery.remove_orphaned_files(settings.data_dir / "missing") == 0
