"""``GET /demo/cdn/{path}``: serves what the fake CDN stored (mock mode only).

Mounted with the other demo routes (mock mode only) so image URLs returned by the API open
in a browser.
"""

from typing import Annotated, Final

import aiofiles.os
from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from app.config import SettingsDep
from app.errors import DomainError
from app.mocks.cdn import safe_storage_path

router = APIRouter(prefix="/demo", tags=["demo"])

MEDIA_TYPES: Final = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


# Uploads are user content served from the app's own origin: never sniffed into HTML or
# script, and if opened as a page, a sandboxed one that may load nothing but images.
HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
}


class CdnFileNotFoundError(DomainError):
    status_code = 404
    detail = "No such file on the demo CDN"


@router.get(
    "/cdn/{path:path}",
    summary="A file stored by the fake CDN",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}, "image/gif": {}},
            "headers": {
                name: {"schema": {"type": "string", "example": value}}
                for name, value in HEADERS.items()
            },
        },
        404: {"description": "No such file", "content": {"application/json": {}}},
    },
)
async def get_cdn_file(
    path: Annotated[str, Path(description="Path as returned in an image URL")],
    settings: SettingsDep,
) -> FileResponse:
    target = safe_storage_path(settings.data_dir / "cdn", path)
    if target is None or not await aiofiles.os.path.isfile(target):
        raise CdnFileNotFoundError
    media_type = MEDIA_TYPES.get(target.suffix.lower(), "application/octet-stream")
    return FileResponse(target, media_type=media_type, headers=HEADERS)
