"""A route class that caps request bodies at the app's upload limit, answering JSON 413.

Why not FastAPI's ``max_body_size=``: it is fixed when the module is imported, while the
limit is a setting of each app (tests use tiny ones); and when ``Content-Length`` is over
it, Starlette answers ``text/plain``, while every error of this API is JSON.
This class checks ``Content-Length`` before reading anything and counts the bytes of
chunked bodies as they arrive, so an oversized upload is refused without being buffered.
"""

from collections.abc import Callable, Coroutine
from typing import Any, Final

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import Message

from app.config import Settings
from app.images.exceptions import UploadTooLargeError

# Multipart framing around the file (boundaries, part headers, the file name):
# the exact per-file limit is enforced again while the file is copied.
MULTIPART_OVERHEAD_BYTES: Final = 16 * 1024


class UploadLimitRoute(APIRoute):
    """Refuses bodies over ``settings.max_upload_bytes`` (+ multipart framing) with 413."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited_handler(request: Request) -> Response:
            settings: Settings = request.state.settings
            max_upload = settings.max_upload_bytes
            limit = max_upload + MULTIPART_OVERHEAD_BYTES
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise UploadTooLargeError(max_upload)
            receive = request.receive
            received = 0

            async def counting_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise UploadTooLargeError(max_upload)
                return message

            return await handler(Request(request.scope, counting_receive))

        return limited_handler
