"""Image endpoints: upload (verified, then processed in the background) and read back."""

import functools

import anyio
import anyio.to_thread
from fastapi import APIRouter, status

from app.analytics.dependencies import TrackerDep
from app.clients.dependencies import CdnDep
from app.config import SettingsDep
from app.db import SessionDep, SessionFactoryDep
from app.errors import UNREADABLE_BODY, error_responses
from app.images import service, storage
from app.images.dependencies import ExistingImage, UserIdQuery, VerifyLimiterDep
from app.images.exceptions import (
    ImageNotFoundError,
    UnsupportedImageError,
    UploadTooLargeError,
)
from app.images.owner import UploadOwnerDep
from app.images.processing import InvalidImageError, inspect_image
from app.images.schemas import ImageRead, ImageUploadAccepted
from app.images.storage import UploadPaths
from app.images.task_error_handlers import on_process_upload_failed
from app.images.tasks import process_upload
from app.images.upload_file import ImageFile
from app.images.upload_limit import UploadLimitRoute
from fastapi_tasks import Tasks

router = APIRouter(
    tags=["images"],
    route_class=UploadLimitRoute,
)

PROCESS_TASK_NAME = "images.process_upload"


@router.post(
    "/upload-image",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload an image; it is optimized, thumbnailed and put on the CDN",
    responses={
        **UNREADABLE_BODY,
        **error_responses(UploadTooLargeError, UnsupportedImageError),
    },
)
async def upload_image(
    user_id: UserIdQuery,
    file: ImageFile,
    session: SessionDep,
    sessions: SessionFactoryDep,
    settings: SettingsDep,
    cdn: CdnDep,
    tracker: TrackerDep,
    verify_limiter: VerifyLimiterDep,
    tasks: Tasks,
    owner: UploadOwnerDep,
) -> ImageUploadAccepted:
    """The file is stored under a generated name and checked (format sniffed from the
    bytes, fully decoded, pixel limit) before the 202; processing then runs as a task.
    """
    paths = UploadPaths.generate(settings.upload_dir, owner=owner.name)
    try:
        size = await storage.save_upload(
            file, paths.original, max_bytes=settings.max_upload_bytes
        )
        info = await anyio.to_thread.run_sync(
            functools.partial(
                inspect_image, paths.original, max_pixels=settings.image_max_pixels
            ),
            limiter=verify_limiter,
        )
        # committed here, before the task that reads it is scheduled
        image = await service.create_image(
            session,
            user_id=user_id,
            filename=storage.sanitize_filename(file.filename),
            format=info.format,
            size_bytes=size,
            owner=owner.name,
        )
    except InvalidImageError as exc:
        await storage.remove_files(*paths.all())
        raise UnsupportedImageError(exc.reason) from exc
    except BaseException:
        await storage.remove_files(*paths.all())
        raise

    tasks.task(
        name=PROCESS_TASK_NAME,
        # shared by every task of this name: a burst of uploads queues as "pending"
        limit=settings.image_jobs_limit,
        on_error=functools.partial(
            on_process_upload_failed, image_id=image.id, paths=paths, sessions=sessions
        ),
    ).schedule(
        process_upload,
        image_id=image.id,
        user_id=user_id,
        paths=paths,
        original_format=info.format,
        cdn=cdn,
        sessions=sessions,
        tracker=tracker,
    )
    return ImageUploadAccepted(
        image_id=image.id,
        message=f"Image accepted and being processed; poll GET /images/{image.id}",
    )


@router.get(
    "/images/{image_id}",  # noqa: FAST003 - read by the ExistingImage dependency
    summary="An image's processing status and CDN URLs",
    responses=error_responses(ImageNotFoundError),
)
async def get_image(image: ExistingImage) -> ImageRead:
    return ImageRead.model_validate(image)
