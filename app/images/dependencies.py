"""Path and query dependencies of the image endpoints."""

from typing import Annotated, Final

import anyio
from fastapi import Depends, Path, Query, Request

from app.config import SettingsDep
from app.db import SessionDep
from app.images import service
from app.images.models import ImageRecord

# SQLite integers are 64-bit: ids outside that range would fail in the driver instead of
# being a 422/404 (in both directions: -2**63 - 1 overflowed too).
MAX_ID: Final = 2**63 - 1
MIN_ID: Final = -(2**63)

UserIdQuery = Annotated[
    int, Query(gt=0, le=MAX_ID, description="The uploading user (a positive integer)")
]


async def valid_image_id(
    image_id: Annotated[
        int, Path(ge=MIN_ID, le=MAX_ID, description="Id returned by the upload")
    ],
    session: SessionDep,
) -> ImageRecord:
    """The image with this id, or 404."""
    return await service.get_image(session, image_id)


ExistingImage = Annotated[ImageRecord, Depends(valid_image_id)]

_LIMITER_ATTR = "images_verify_limiter"


async def get_verify_limiter(
    request: Request, settings: SettingsDep
) -> anyio.CapacityLimiter:
    """Bounds the full decodes done *in requests* (one limiter per app).

    Without it a burst of 20 uploads decodes 20 images side by side in worker threads
    and starves the event loop of CPU; the processing tasks have their own ``limit=``.
    """
    limiter = getattr(request.app.state, _LIMITER_ATTR, None)
    if not isinstance(limiter, anyio.CapacityLimiter):
        limiter = anyio.CapacityLimiter(settings.image_jobs_limit)
        setattr(request.app.state, _LIMITER_ATTR, limiter)
    return limiter


VerifyLimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_verify_limiter)]
