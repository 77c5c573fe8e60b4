"""Image records: create, read, and the two final states. Each write commits."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.images.exceptions import ImageNotFoundError
from app.images.models import ImageRecord, ImageStatus


async def create_image(
    session: AsyncSession,
    *,
    user_id: int,
    filename: str,
    format: str,
    size_bytes: int,
    owner: str | None = None,
) -> ImageRecord:
    """A new record in ``processing``, committed (tasks read it from their own session)."""
    image = ImageRecord(
        user_id=user_id,
        status=ImageStatus.PROCESSING,
        filename=filename,
        format=format,
        size_bytes=size_bytes,
        owner=owner,
    )
    session.add(image)
    await session.commit()
    return image


async def get_image(session: AsyncSession, image_id: int) -> ImageRecord:
    image = await session.get(ImageRecord, image_id)
    if image is None:
        raise ImageNotFoundError
    return image


async def mark_ready(
    session: AsyncSession,
    image_id: int,
    *,
    original_url: str,
    optimized_url: str,
    thumbnail_url: str,
    width: int,
    height: int,
) -> None:
    image = await get_image(session, image_id)
    image.status = ImageStatus.READY
    image.original_url = original_url
    image.optimized_url = optimized_url
    image.thumbnail_url = thumbnail_url
    image.width = width
    image.height = height
    image.error = None
    await session.commit()


async def mark_failed(session: AsyncSession, image_id: int, *, error: str) -> None:
    image = await get_image(session, image_id)
    if image.status == ImageStatus.READY:
        return  # a late failure (e.g. analytics) never undoes a finished image
    image.status = ImageStatus.FAILED
    image.error = error[:500]
    await session.commit()
