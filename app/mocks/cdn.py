"""Fake CDN: ``PUT {base}/upload/{path}`` stores the bytes on disk under ``data_dir/cdn``.

The answer is ``{"url": "<public_base_url>/demo/cdn/<path>"}``, served back by
``app/demo/cdn_files.py``. Fault ``cdn: down`` answers 503. Paths are checked so that no
upload can land outside the storage directory.
"""

from pathlib import Path, PurePosixPath

import aiofiles.os
import anyio
import httpx
import respx

from app.mocks.fakes import FakeServices

SERVICE = "cdn"


def safe_storage_path(root: Path, path: str) -> Path | None:
    """``root / path`` if ``path`` is a plain relative path that stays inside ``root``.

    Rejects empty paths, absolute paths, ``..`` and ``.`` segments, backslashes and control
    characters; then resolves symlinks and checks the result is still under ``root``.
    """
    if not path or "\\" in path or any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    base = root.resolve()
    candidate = (base / pure).resolve()
    if candidate == base or not candidate.is_relative_to(base):
        return None
    return candidate


def install(
    router: respx.Router,
    fakes: FakeServices,
    base_url: str,
    *,
    storage_dir: Path,
    public_base_url: str,
) -> None:
    """Register ``PUT /upload/{path}`` under ``base_url``, storing files in ``storage_dir``."""
    base = base_url.rstrip("/")
    prefix = httpx.URL(f"{base}/upload/").path
    public = public_base_url.rstrip("/")

    async def upload(request: httpx.Request) -> httpx.Response:
        if await fakes.fault_of(SERVICE) == "down":
            payload = {"error": "unavailable", "message": "CDN unavailable"}
            return await fakes.respond(
                SERVICE, request, httpx.Response(503, json=payload)
            )
        relative = request.url.path.removeprefix(prefix)
        target = safe_storage_path(storage_dir, relative)
        if target is None:
            payload = {"error": "bad_path", "message": "Invalid upload path"}
            return await fakes.respond(
                SERVICE, request, httpx.Response(400, json=payload)
            )
        content = await request.aread()
        await aiofiles.os.makedirs(target.parent, exist_ok=True)
        await anyio.Path(target).write_bytes(content)
        payload = {"url": f"{public}/demo/cdn/{relative}"}
        return await fakes.respond(SERVICE, request, httpx.Response(201, json=payload))

    router.put(url__startswith=f"{base}/upload/", name="cdn.upload").mock(
        side_effect=upload
    )
