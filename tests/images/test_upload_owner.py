"""Startup recovery with several workers: only uploads of runs that are gone are cleaned up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Settings
from app.db import make_engine, make_session_factory
from app.images import recovery
from app.images.models import ImageRecord, ImageStatus
from app.images.owner import (
    UploadOwner,
    claim_dead_owners,
    other_runs_alive,
    owners_dir,
)

pytestmark = pytest.mark.anyio


def dead_owner(data_dir: Path) -> str:
    """A lock file left by a process that has exited."""
    code = (
        "import sys; from pathlib import Path; from app.images.owner import UploadOwner\n"
        "with UploadOwner.held(Path(sys.argv[1])) as owner: print(owner.name)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    return done.stdout.strip()


async def test_a_live_owners_uploads_are_spared_and_a_dead_ones_recovered(
    settings: Settings,
) -> None:
    data_dir, upload_dir = settings.data_dir, settings.upload_dir
    upload_dir.mkdir(parents=True)
    gone = dead_owner(data_dir)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    try:
        with UploadOwner.held(data_dir) as live:
            files = {
                name: upload_dir / f"{name}-{'b' * 32}.upload"
                for name in (live.name, gone)
            }
            for path in files.values():
                path.write_bytes(b"x")
            async with sessions() as session:
                rows = {
                    name: ImageRecord(
                        user_id=1, filename="p", format="png", size_bytes=1, owner=name
                    )
                    for name in (live.name, gone)
                }
                session.add_all(rows.values())
                await session.commit()

            await recovery.recover_interrupted_uploads(data_dir, upload_dir, sessions)

            assert files[live.name].exists()
            assert not files[gone].exists()
            async with sessions() as session:
                live_row = await session.get(ImageRecord, rows[live.name].id)
                gone_row = await session.get(ImageRecord, rows[gone].id)
            assert live_row is not None
            assert live_row.status == ImageStatus.PROCESSING
            assert gone_row is not None
            assert gone_row.status == ImageStatus.FAILED
            assert gone_row.error == recovery.INTERRUPTED_ERROR
            # the dead run's lock file is gone; the live one stays, held
            assert [p.stem for p in owners_dir(data_dir).iterdir()] == [live.name]
            with claim_dead_owners(data_dir) as dead:
                assert dead == []
    finally:
        await engine.dispose()


def test_other_runs_alive_sees_a_live_sibling_only(tmp_path: Path) -> None:
    dead_owner(tmp_path)  # a lock file nobody holds
    with UploadOwner.held(tmp_path) as first:
        assert not other_runs_alive(tmp_path, first.name)
        with UploadOwner.held(tmp_path) as second:
            assert other_runs_alive(tmp_path, first.name)
            assert other_runs_alive(tmp_path, second.name)
        assert not other_runs_alive(tmp_path, first.name)
