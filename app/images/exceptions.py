"""Refusals of the image endpoints, each mapped to its status code."""

from fastapi import status
from starlette.exceptions import HTTPException

from app.errors import DomainError


class ImageNotFoundError(DomainError):
    """No image has this id."""

    status_code = status.HTTP_404_NOT_FOUND
    detail = "Image not found"


class UnsupportedImageError(DomainError):
    """Not a PNG, JPEG, GIF or WebP image, truncated, or over the pixel limit."""

    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    detail = "The file is not a PNG, JPEG, GIF or WebP image"


class UploadTooLargeError(HTTPException):
    """The body or the file is over the upload limit.

    An ``HTTPException`` (not a ``DomainError``): it may be raised while FastAPI is still
    reading the body, where any other exception type would become a 400.
    """

    # Class-level: what the API documentation shows (app.errors.error_responses).
    status_code = status.HTTP_413_CONTENT_TOO_LARGE
    detail = "The upload is larger than the limit of 10485760 bytes"
    summary = "Over the size limit (MAX_UPLOAD_BYTES); refused before the body is read when Content-Length says so"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"The upload is larger than the limit of {max_bytes} bytes",
        )
        self.max_bytes = max_bytes
