"""The image example: an upload that ends ready with a thumbnail, and one the CDN refuses."""

import io
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from walkthrough import timing
from walkthrough.helpers import (
    check_fields,
    check_modes,
    set_fault,
    step,
    wait_for_tasks,
)
from walkthrough.runner import StepContext, newer

IMAGE_SIZE = (640, 480)
THUMBNAIL_SIZE = (300, 225)  # 640x480 bounded to 300x300, aspect kept
IMAGE_TASKS = {"images.process_upload": "immediate"}


def png_bytes(size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    """A small generated PNG (what the tutorial's one-line Python command writes)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


async def upload(ctx: StepContext, user_id: int) -> int:
    response = await ctx.call(
        "POST",
        "/upload-image",
        params={"user_id": user_id},
        files={"file": ("demo.png", png_bytes(), "image/png")},
    )
    ctx.expect_status(response, 202, "POST /upload-image → 202 Accepted")
    body = response.json()
    ctx.must(
        'answer is {"image_id": <int>, "status": "processing", "message": ...}',
        isinstance(body.get("image_id"), int) and body.get("status") == "processing",
        body,
    )
    ctx.note(f"image_id = {body['image_id']} (varies)")
    return int(body["image_id"])


async def image_outcome(ctx: StepContext, image_id: int) -> dict[str, Any]:
    image = await ctx.poll(
        f"GET /images/{image_id} leaves 'processing'",
        lambda: ctx.get_json("/images/{image_id}", path_params={"image_id": image_id}),
        lambda image: image["status"] != "processing",
        deadline_s=timing.SETTLE_DEADLINE_S,
    )
    outcome: dict[str, Any] = image
    return outcome


@step(
    "Upload an image → ready, with a thumbnail",
    "POST /upload-image",
    "GET /images/{image_id}",
    "GET /demo/cdn/{path:path}",
    "GET /demo/tasks",
    "GET /demo/calls",
)
async def image_ready(ctx: StepContext) -> None:
    since = await ctx.latest_time("tasks")
    cdn_since = await ctx.latest_time("cdn")
    image_id = await upload(ctx, ctx.scenario.image_user_id)
    image = await image_outcome(ctx, image_id)
    check_fields(
        ctx,
        image,
        {"status": "ready", "width": IMAGE_SIZE[0], "height": IMAGE_SIZE[1]},
    )
    thumbnail = urlsplit(str(image.get("thumbnail_url"))).path
    ctx.must(
        "thumbnail_url points at /demo/cdn/...",
        thumbnail.startswith("/demo/cdn/"),
        image,
    )
    response = await ctx.call(
        "GET",
        "/demo/cdn/{path:path}",
        path_params={"path": thumbnail.removeprefix("/demo/cdn/")},
    )
    ctx.expect_status(response, 200, "the thumbnail opens (GET /demo/cdn/... → 200)")
    try:
        size = Image.open(io.BytesIO(response.content)).size
    except OSError as error:
        size = (0, 0)
        ctx.note(f"not an image: {type(error).__name__}")
    ctx.check(
        f"it is a {THUMBNAIL_SIZE[0]}x{THUMBNAIL_SIZE[1]} image (300x300 box, aspect kept)",
        size == THUMBNAIL_SIZE,
        size,
    )
    found = await wait_for_tasks(ctx, IMAGE_TASKS, since)
    check_modes(ctx, found, IMAGE_TASKS)
    puts = [
        call
        for call in newer(await ctx.calls_to("cdn"), "at", cdn_since)
        if f"/{image_id}/" in call["url"]
    ]
    ctx.check(
        "three files went to the CDN (original, optimized, thumbnail)",
        len(puts) == 3 and all(call["status"] in (200, 201) for call in puts),
        [(call["method"], call["status"]) for call in puts],
    )


@step(
    "CDN down → the image is 'failed'",
    "PUT /demo/faults",
    "POST /upload-image",
    "GET /images/{image_id}",
)
async def image_failed(ctx: StepContext) -> None:
    await set_fault(ctx, "cdn", "down")
    try:
        image_id = await upload(ctx, ctx.scenario.image_user_id)
        image = await image_outcome(ctx, image_id)
        ctx.check(
            "status is 'failed', with an error that names the CDN's 503",
            image["status"] == "failed" and "503" in str(image.get("error")),
            {key: image.get(key) for key in ("status", "error")},
        )
        ctx.check(
            "no URLs for a failed image",
            image.get("thumbnail_url") is None and image.get("original_url") is None,
            image,
        )
    finally:
        await set_fault(ctx, "cdn", "ok")
