from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.config import Settings
from app.db import make_engine, make_session_factory
from app.images.models import ImageRecord
from fastapi_tasks.testing import wait_for_tasks

from .conftest import MAX_UPLOAD_BYTES, HeldRender, files_under
from .imagegen import (
    bmp_bytes,
    bomb_png_bytes,
    image_size,
    jpeg_bytes,
    png_bytes,
    truncated_jpeg_bytes,
)

# A hand-framed multipart upload of one PNG part, for bodies streamed in chunks.
_BOUNDARY = "b0undary"
MULTIPART_TYPE = f"multipart/form-data; boundary={_BOUNDARY}"
MULTIPART_HEAD = (
    f"--{_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="file"; filename="big.png"\r\n'
    "Content-Type: image/png\r\n\r\n"
).encode()
MULTIPART_TAIL = f"\r\n--{_BOUNDARY}--\r\n".encode()

pytestmark = pytest.mark.anyio


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    *,
    user_id: int | str = 7,
    filename: str = "photo.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return await client.post(
        "/upload-image",
        params={"user_id": user_id},
        files={"file": (filename, data, content_type)},
    )


async def stored_records(settings: Settings) -> list[ImageRecord]:
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session:
            return list((await session.scalars(select(ImageRecord))).all())
    finally:
        await engine.dispose()


async def test_upload_png_answers_202_then_becomes_ready(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await upload(client, png_bytes((640, 480)))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "processing"
    assert isinstance(body["image_id"], int)
    assert str(body["image_id"]) in body["message"]

    await wait_for_tasks(app, timeout=5)
    image = (await client.get(f"/images/{body['image_id']}")).json()
    image_id = body["image_id"]
    base = f"http://test/demo/cdn/images/7/{image_id}"
    assert image == {
        "image_id": image_id,
        "user_id": 7,
        "status": "ready",
        "original_url": f"{base}/original.png",
        "optimized_url": f"{base}/optimized.jpg",
        "thumbnail_url": f"{base}/thumbnail.jpg",
        "width": 640,
        "height": 480,
        "error": None,
    }
    thumbnail = await client.get(image["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert image_size(thumbnail.content) == (300, 225)
    assert files_under(settings.upload_dir) == []


async def test_upload_keeps_client_filename_only_as_sanitized_metadata(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    response = await upload(client, png_bytes((50, 50)), filename="../../etc/passwd")
    assert response.status_code == 202
    await wait_for_tasks(app, timeout=5)
    [record] = await stored_records(settings)
    assert record.filename == "passwd"
    assert not (tmp_path / "etc").exists()
    assert files_under(settings.upload_dir) == []


async def test_upload_over_limit_with_content_length_is_json_413(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await upload(client, b"\0" * (MAX_UPLOAD_BYTES * 2))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": f"The upload is larger than the limit of {MAX_UPLOAD_BYTES} bytes"
    }
    assert files_under(settings.upload_dir) == []
    assert await stored_records(settings) == []


async def test_upload_over_limit_without_content_length_is_json_413(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    sent = 0

    async def chunked_body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield MULTIPART_HEAD
        for _ in range(64):  # 4 MiB in 64 KiB chunks, far over the limit
            sent += 1
            yield b"\0" * 65536
        yield MULTIPART_TAIL

    response = await client.post(
        "/upload-image",
        params={"user_id": 1},
        content=chunked_body(),
        headers={"Content-Type": MULTIPART_TYPE},
    )
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The upload is larger than the limit")
    assert sent < 64  # refused while streaming, not after reading everything
    assert files_under(settings.upload_dir) == []


async def test_upload_declaring_too_large_a_content_length_is_refused_unread(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    chunk = b"\0" * 65536
    chunks = 2 * MAX_UPLOAD_BYTES // len(chunk)  # twice the limit
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        # The transport pulls a part only when the app asks for body bytes.
        nonlocal pulled
        for part in (MULTIPART_HEAD, *[chunk] * chunks, MULTIPART_TAIL):
            pulled += 1
            yield part

    response = await client.post(
        "/upload-image",
        params={"user_id": 1},
        content=body(),
        headers={
            "Content-Type": MULTIPART_TYPE,
            "Content-Length": str(
                len(MULTIPART_HEAD) + chunks * len(chunk) + len(MULTIPART_TAIL)
            ),
        },
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The upload is larger than the limit of {MAX_UPLOAD_BYTES} bytes"
    }
    # Refused on the declared length alone: the streaming counter would have
    # refused it too, but only after reading past the limit.
    assert pulled == 0
    assert files_under(settings.upload_dir) == []


async def test_file_just_over_limit_is_413_from_the_streaming_copy(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # within the body allowance for multipart framing, so only the exact per-file check fires
    response = await upload(client, b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The upload is larger than the limit")
    assert files_under(settings.upload_dir) == []


async def test_file_exactly_at_limit_is_accepted_for_checking(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # at the limit it passes the size checks and is refused only as a non-image
    response = await upload(client, b"\0" * MAX_UPLOAD_BYTES)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (
            b"just some text, named .png",
            "The file is not a PNG, JPEG, GIF or WebP image",
        ),
        (b"", "The file is not a PNG, JPEG, GIF or WebP image"),
        (bmp_bytes(), "The file is not a PNG, JPEG, GIF or WebP image"),
        (truncated_jpeg_bytes(), "The image data is truncated or corrupt"),
        (bomb_png_bytes(), "The image has too many pixels"),
        (png_bytes((2001, 2000), mode="1"), "The image has too many pixels"),
    ],
    ids=["text", "empty", "bmp", "truncated-jpeg", "bomb", "over-pixel-setting"],
)
async def test_upload_of_unusable_file_is_415_and_leaves_nothing(
    client: httpx.AsyncClient, settings: Settings, data: bytes, detail: str
) -> None:
    # the client's content type says PNG: it is not trusted
    response = await upload(client, data, content_type="image/png")
    assert response.status_code == 415
    assert response.json() == {"detail": detail}
    assert files_under(settings.upload_dir) == []
    assert await stored_records(settings) == []


@pytest.mark.parametrize("user_id", [0, -3, "abc", 2**63, ""])
async def test_upload_with_bad_user_id_is_422(
    client: httpx.AsyncClient, settings: Settings, user_id: int | str
) -> None:
    response = await upload(client, png_bytes((10, 10)), user_id=user_id)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "user_id"]
    assert files_under(settings.upload_dir) == []


async def test_upload_without_user_id_or_file_is_422(client: httpx.AsyncClient) -> None:
    missing_user = await client.post(
        "/upload-image", files={"file": ("a.png", png_bytes((5, 5)), "image/png")}
    )
    assert missing_user.status_code == 422
    missing_file = await client.post("/upload-image", params={"user_id": 1})
    assert missing_file.status_code == 422


async def test_get_unknown_image_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/images/999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Image not found"}
    assert (await client.get(f"/images/{2**63}")).status_code == 422
    assert (await client.get("/images/-1")).status_code == 404
    # below SQLite's 64-bit integers: was an OverflowError in the driver (a 500)
    assert (await client.get(f"/images/{-(2**63) - 1}")).status_code == 422


async def test_image_is_processing_until_the_task_finishes(
    app: FastAPI, client: httpx.AsyncClient, held_render: HeldRender
) -> None:
    response = await upload(client, jpeg_bytes((400, 300)), content_type="image/jpeg")
    image_id = response.json()["image_id"]
    await held_render.wait_entered()
    # committed before scheduling, and the task is held at the render
    first = (await client.get(f"/images/{image_id}")).json()
    assert first["status"] == "processing"
    held_render.release.set()
    await wait_for_tasks(app, timeout=5)
    assert (await client.get(f"/images/{image_id}")).json()["status"] == "ready"


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2Fapp.db",
        "%2E%2E/%2E%2E/app.db",
        "images/%2E%2E/%2E%2E/%2E%2E/app.db",
        "nope.jpg",
    ],
)
async def test_demo_cdn_serves_nothing_outside_its_directory(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(f"/demo/cdn/{path}")
    assert response.status_code == 404
    assert response.json() == {"detail": "No such file on the demo CDN"}


def _multipart(disposition: bytes) -> tuple[bytes, dict[str, str]]:
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; " + disposition + b"\r\n"
        b"Content-Type: image/png\r\n\r\n" + png_bytes((5, 5)) + b"\r\n--XyZ--\r\n"
    )
    return body, {"content-type": "multipart/form-data; boundary=XyZ"}


@pytest.mark.parametrize(
    ("disposition", "message"),
    [
        (b'name="file"', "Expected a file, got a plain form field"),
        (b'name="file"; filename=""', "The file part has an empty file name"),
        (b'name="file"; filename="a\x00.png"', "NUL"),
    ],
)
async def test_a_file_part_without_a_usable_name_is_a_422_a_person_can_act_on(
    client: httpx.AsyncClient, disposition: bytes, message: str
) -> None:
    body, headers = _multipart(disposition)

    response = await client.post(
        "/upload-image?user_id=1", content=body, headers=headers
    )

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "file"]
    assert message in problem["msg"]
    assert "<class" not in response.text
    if b"filename" not in disposition or b'""' in disposition:
        assert 'filename="photo.png"' in problem["msg"]  # says what to send instead
