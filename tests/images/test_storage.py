import io
from pathlib import Path

import anyio
import pytest

from app.images.exceptions import UploadTooLargeError
from app.images.storage import (
    CHUNK_BYTES,
    UploadPaths,
    remove_files,
    sanitize_filename,
    save_upload,
)
from tests.polling import within

pytestmark = pytest.mark.anyio


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


class CountingSource:
    """An upload source that records how much was read (proves streaming)."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self.bytes_read = 0

    async def read(self, size: int = -1) -> bytes:
        chunk = self._buffer.read(size)
        self.bytes_read += len(chunk)
        return chunk


async def test_save_upload_writes_the_bytes_under_the_generated_name(
    tmp_path: Path,
) -> None:
    paths = UploadPaths.generate(tmp_path / "uploads")
    data = b"x" * (3 * CHUNK_BYTES + 17)
    written = await save_upload(
        CountingSource(data), paths.original, max_bytes=len(data)
    )
    assert written == len(data)
    assert paths.original.read_bytes() == data
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [paths.original.name]


async def test_save_upload_stops_reading_once_over_the_limit(tmp_path: Path) -> None:
    paths = UploadPaths.generate(tmp_path)
    source = CountingSource(b"x" * (50 * CHUNK_BYTES))
    with pytest.raises(UploadTooLargeError) as caught:
        await save_upload(source, paths.original, max_bytes=2 * CHUNK_BYTES)
    assert caught.value.status_code == 413
    assert source.bytes_read == 3 * CHUNK_BYTES  # not the whole 50 chunks
    assert files_in(tmp_path) == []  # the partial file is gone


async def test_save_upload_removes_partial_file_when_cancelled(tmp_path: Path) -> None:
    paths = UploadPaths.generate(tmp_path)
    first_chunk_read = anyio.Event()

    class StallingSource:
        async def read(self, size: int = -1) -> bytes:
            if not first_chunk_read.is_set():
                first_chunk_read.set()
                return b"x" * size
            await anyio.sleep_forever()
            raise AssertionError  # pragma: no cover

    async with anyio.create_task_group() as group:
        group.start_soon(
            lambda: save_upload(StallingSource(), paths.original, max_bytes=10**6)
        )
        await within(first_chunk_read.wait())
        group.cancel_scope.cancel()
    assert not paths.original.exists()


async def test_save_upload_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "taken.upload"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        await save_upload(CountingSource(b"new"), target, max_bytes=100)
    assert target.read_bytes() == b"keep me"


def test_generated_names_are_unique_and_inside_the_upload_dir(tmp_path: Path) -> None:
    generated = [UploadPaths.generate(tmp_path) for _ in range(200)]
    names = {path.name for paths in generated for path in paths.all()}
    assert len(names) == 600
    for paths in generated:
        for path in paths.all():
            assert path.parent == tmp_path
            assert path.name.split(".")[0].isalnum()


async def test_remove_files_ignores_missing_files(tmp_path: Path) -> None:
    present = tmp_path / "a"
    present.write_bytes(b"1")
    await remove_files(present, tmp_path / "missing")
    assert not present.exists()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("holiday.jpg", "holiday.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/x.png", "x.png"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("a\x00b\nc.png", "abc.png"),
        ("é photo;rm -rf.png", "é photo_rm -rf.png"),
        ("x" * 500 + ".png", "x" * 120),
    ],
)
def test_sanitize_filename_keeps_a_harmless_label(
    raw: str | None, expected: str
) -> None:
    assert sanitize_filename(raw) == expected
