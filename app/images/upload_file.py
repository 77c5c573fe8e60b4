"""The ``file`` part of an upload: a real file part with a usable name, or a clear 422.

Without this, a part sent without a file name reaches FastAPI as a plain text field and
the 422 reads "Expected UploadFile, received: <class 'str'>", which nobody can act on.
"""

from typing import Annotated, Any

from fastapi import File, UploadFile
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.datastructures import UploadFile as StarletteUploadFile

from app.text_input import refuse_unstorable

EXAMPLE_PART = 'Content-Disposition: form-data; name="file"; filename="photo.png"'


def named_file_part(value: Any) -> Any:
    """Before-validator: a file part with a non-empty, storable file name."""
    if not isinstance(value, StarletteUploadFile):
        raise PydanticCustomError(
            "file_part_expected",
            "Expected a file, got a plain form field: send the image as a file part "
            "with a file name ({part}; curl: -F file=@photo.png)",
            {"part": EXAMPLE_PART},
        )
    if not value.filename:
        raise PydanticCustomError(
            "file_name_missing",
            "The file part has an empty file name: give it one ({part})",
            {"part": EXAMPLE_PART},
        )
    refuse_unstorable(value.filename)
    return value


ImageFile = Annotated[
    UploadFile,
    BeforeValidator(named_file_part),
    File(description="A PNG, JPEG, GIF or WebP image, sent with a file name"),
]
