"""Images against the real server (uvicorn on 127.0.0.1): formats, rejections, CDN outage."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from tests.e2e.server import ServerProcess, running_server
from tests.images.imagegen import (
    animated_gif_bytes,
    bmp_bytes,
    bomb_png_bytes,
    image_size,
    jpeg_bytes,
    png_bytes,
    rgba_png_bytes,
    truncated_jpeg_bytes,
)
from tests.polling import poll, within

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

DEADLINE_S = 5.0
MAX_UPLOAD_BYTES = 300_000
MAX_PIXELS = 5_000_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images-e2e")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[ServerProcess]:
    env = {
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
        "IMAGE_MAX_PIXELS": str(MAX_PIXELS),
    }
    with running_server(data_dir / "server", env=env) as running:
        yield running


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=DEADLINE_S
    ) as client:
        yield client
        await client.put("/demo/faults", json={"cdn": "ok"})


def upload_dir(data_dir: Path) -> Path:
    return data_dir / "server" / "uploads"


def files_under(directory: Path) -> list[Path]:
    if not directory.exists():
        return []
    return sorted(p for p in directory.rglob("*") if p.is_file())


async def upload(
    http: httpx.AsyncClient,
    data: bytes,
    *,
    filename: str = "picture",
    content_type: str = "image/png",
    user_id: int = 5,
) -> httpx.Response:
    return await http.post(
        "/upload-image",
        params={"user_id": user_id},
        files={"file": (filename, data, content_type)},
    )


async def settled(http: httpx.AsyncClient, image_id: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        image: dict[str, Any] = (await http.get(f"/images/{image_id}")).json()
        return None if image["status"] == "processing" else image

    result: dict[str, Any] = await poll(check)
    return result


async def temp_files_removed(data_dir: Path) -> None:
    """Wait until the upload's temporary files are gone.

    The job records its outcome first and removes its files in a ``finally`` after it, so
    a test that saw "ready" or "failed" may be a moment early.
    """

    async def removed() -> bool:
        return files_under(upload_dir(data_dir)) == []

    await poll(removed)


async def fetch_from_demo_cdn(http: httpx.AsyncClient, url: str) -> httpx.Response:
    # the URL's host is the configured public base URL; the path is what /demo/cdn serves
    path = httpx.URL(url).path
    assert path.startswith("/demo/cdn/images/")
    return await http.get(path)


@pytest.mark.parametrize(
    ("data", "content_type", "size", "thumbnail", "kinds"),
    [
        (
            png_bytes((640, 480)),
            "image/png",
            (640, 480),
            (300, 225),
            ("png", "jpg", "jpg"),
        ),
        (
            jpeg_bytes((800, 600), orientation=6),
            "image/jpeg",
            (600, 800),  # EXIF Orientation=6: displayed as portrait
            (225, 300),
            ("jpg", "jpg", "jpg"),
        ),
        (
            rgba_png_bytes((400, 200)),
            "image/png",
            (400, 200),
            (300, 150),
            ("png", "png", "png"),
        ),
        (
            animated_gif_bytes((500, 250)),
            "image/gif",
            (500, 250),
            (300, 150),
            ("gif", "gif", "jpg"),
        ),
    ],
    ids=["png", "jpeg-exif-rotated", "rgba-png", "animated-gif"],
)
async def test_upload_becomes_ready_with_bounded_thumbnail(
    http: httpx.AsyncClient,
    data_dir: Path,
    data: bytes,
    content_type: str,
    size: tuple[int, int],
    thumbnail: tuple[int, int],
    kinds: tuple[str, str, str],
) -> None:
    response = await upload(http, data, content_type=content_type)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    image = await settled(http, response.json()["image_id"])

    assert image["status"] == "ready", image
    assert (image["width"], image["height"]) == size
    urls = (image["original_url"], image["optimized_url"], image["thumbnail_url"])
    assert tuple(url.rsplit(".", 1)[1] for url in urls) == kinds
    served = await fetch_from_demo_cdn(http, image["thumbnail_url"])
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/")
    assert image_size(served.content) == thumbnail
    original = await fetch_from_demo_cdn(http, image["original_url"])
    assert original.content == data  # the original is kept byte for byte
    await temp_files_removed(data_dir)


@pytest.mark.parametrize(
    ("data", "filename", "status"),
    [
        (b"<html>definitely not a picture</html>", "page.png", 415),
        (bmp_bytes(), "old.png", 415),
        (truncated_jpeg_bytes(), "cut.jpg", 415),
        (bomb_png_bytes(), "bomb.png", 415),
        (png_bytes((3000, 2000), mode="1"), "huge.png", 415),  # over IMAGE_MAX_PIXELS
        (b"\0" * (MAX_UPLOAD_BYTES + 1), "big.png", 413),
        (b"\0" * (MAX_UPLOAD_BYTES * 4), "bigger.png", 413),
        (b"not an image", "../../etc/passwd", 415),
        (b"not an image", "..\\..\\windows\\win.ini", 415),
    ],
    ids=[
        "html",
        "bmp",
        "truncated",
        "bomb",
        "pixels",
        "just-over",
        "far-over",
        "traversal-name",
        "backslash-name",
    ],
)
async def test_unusable_upload_is_refused_and_leaves_nothing(
    http: httpx.AsyncClient, data_dir: Path, data: bytes, filename: str, status: int
) -> None:
    before = files_under(data_dir)
    response = await upload(http, data, filename=filename)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str)
    assert files_under(upload_dir(data_dir)) == []
    new_files = set(files_under(data_dir)) - set(before)
    assert {p.suffix for p in new_files} <= {".db", ".db-wal", ".db-shm", ".log"}
    assert not (data_dir / "etc").exists()
    assert not (data_dir.parent / "etc" / "passwd").exists()


async def test_chunked_upload_over_the_limit_is_413(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    boundary = "e2eboundary"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        for _ in range(10):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await http.post(
        "/upload-image",
        params={"user_id": 1},
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The upload is larger than the limit")
    assert files_under(upload_dir(data_dir)) == []


async def response_head(stream: anyio.abc.ByteStream) -> bytes:
    """Read until the end of the response's headers (or until the server closes)."""
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            head += await stream.receive()
        except anyio.EndOfStream:
            break
    return head


async def test_too_large_content_length_is_refused_before_the_body_is_sent(
    server: ServerProcess, data_dir: Path
) -> None:
    # Headers only: a server that waited for the body to count it would never answer.
    url = httpx.URL(server.base_url)
    assert url.port is not None
    request = (
        "POST /upload-image?user_id=1 HTTP/1.1\r\n"
        f"Host: {url.host}:{url.port}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {MAX_UPLOAD_BYTES * 10}\r\n\r\n"
    ).encode()
    async with await anyio.connect_tcp(url.host, url.port) as stream:
        await stream.send(request)
        head = await within(response_head(stream))
    assert head.startswith(b"HTTP/1.1 413 "), head
    assert b"content-type: application/json" in head.lower()
    assert files_under(upload_dir(data_dir)) == []


async def test_traversal_filename_on_a_real_image_is_stored_under_a_generated_name(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    response = await upload(http, png_bytes((60, 40)), filename="../../etc/passwd")
    assert response.status_code == 202
    image = await settled(http, response.json()["image_id"])
    assert image["status"] == "ready"
    assert "passwd" not in image["original_url"]
    assert not (data_dir / "etc").exists()
    await temp_files_removed(data_dir)


async def test_cdn_down_marks_image_failed_and_removes_temp_files(
    http: httpx.AsyncClient, data_dir: Path
) -> None:
    faults = await http.put("/demo/faults", json={"cdn": "down"})
    assert faults.json()["cdn"] == "down"
    response = await upload(http, jpeg_bytes((320, 240)), content_type="image/jpeg")
    assert response.status_code == 202
    image = await settled(http, response.json()["image_id"])
    assert image["status"] == "failed"
    assert image["error"] == "HTTPStatusError: the CDN answered 503"
    assert image["thumbnail_url"] is None
    await temp_files_removed(data_dir)
    calls = (await http.get("/demo/calls", params={"service": "cdn"})).json()
    assert any(call["status"] == 503 for call in calls)


async def test_unknown_image_is_404_and_demo_cdn_refuses_escapes(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.get("/images/987654")).status_code == 404
    for path in ("..%2F..%2Fapp.db", "%2e%2e/%2e%2e/app.db", "images/missing.jpg"):
        response = await http.get(f"/demo/cdn/{path}")
        assert response.status_code == 404
        assert response.json() == {"detail": "No such file on the demo CDN"}
