"""Path and query dependencies of the image endpoints."""

from typing import Annotated, Final

from fastapi import Depends, Path, Query

from app.db import SessionDep
from app.images import service
from app.images.models import ImageRecord

# SQLite integers are 64-bit: larger ids would fail in the driver instead of being a 422/404.
MAX_ID: Final = 2**63 - 1

UserIdQuery = Annotated[
    int, Query(gt=0, le=MAX_ID, description="The uploading user (a positive integer)")
]


async def valid_image_id(
    image_id: Annotated[int, Path(le=MAX_ID, description="Id returned by the upload")],
    session: SessionDep,
) -> ImageRecord:
    """The image with this id, or 404."""
    return await service.get_image(session, image_id)


ExistingImage = Annotated[ImageRecord, Depends(valid_image_id)]
