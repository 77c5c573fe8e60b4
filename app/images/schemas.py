"""Request and response bodies of the image endpoints."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ImageStatusName = Literal["processing", "ready", "failed"]


class ImageUploadAccepted(BaseModel):
    """The upload was stored and verified; processing runs in the background."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "image_id": 1,
                    "status": "processing",
                    "message": "Image accepted and being processed; poll GET /images/1",
                }
            ]
        }
    )

    image_id: int
    status: Literal["processing"] = "processing"
    message: str


class ImageRead(BaseModel):
    """An image record: URLs and size once ready, a short error once failed."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "image_id": 1,
                    "user_id": 42,
                    "status": "ready",
                    "original_url": "http://127.0.0.1:8000/demo/cdn/images/42/1/original.jpg",
                    "optimized_url": "http://127.0.0.1:8000/demo/cdn/images/42/1/optimized.jpg",
                    "thumbnail_url": "http://127.0.0.1:8000/demo/cdn/images/42/1/thumbnail.jpg",
                    "width": 600,
                    "height": 800,
                    "error": None,
                }
            ]
        },
    )

    image_id: int = Field(validation_alias="id")
    user_id: int
    status: ImageStatusName
    original_url: str | None
    optimized_url: str | None
    thumbnail_url: str | None
    width: int | None = Field(
        description="Width as displayed (EXIF orientation applied)"
    )
    height: int | None = Field(
        description="Height as displayed (EXIF orientation applied)"
    )
    error: str | None
