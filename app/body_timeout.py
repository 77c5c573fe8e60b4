"""A bound on the time a client may take to send its request body: 408 when it is over.

uvicorn bounds idle keep-alive connections, not a request whose body stops half way: a
client that sends the headers and half a body holds its connection (and a worker's
request) open for as long as it likes. ``BodyTimeoutMiddleware`` gives every request
``request_body_timeout_s`` (``REQUEST_BODY_TIMEOUT_S``), counted from its arrival, to
deliver its whole body. Past that, reading the body raises ``RequestBodyTimeoutError``:
the API answers 408 ``{"detail": ...}`` and closes the connection.
"""

from typing import Final

import anyio
from fastapi import status
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE: Final = (b"connection", b"close")


class RequestBodyTimeoutError(HTTPException):
    """The body did not arrive in time.

    An ``HTTPException``: it is raised while FastAPI reads the body, where any other
    exception type would become a 400.
    """

    # Class-level: what the API documentation shows (app.errors.error_responses).
    status_code = status.HTTP_408_REQUEST_TIMEOUT
    detail = "The request body was not received within 30 s"
    summary = "The body did not arrive within REQUEST_BODY_TIMEOUT_S (the connection is closed)"

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            status_code=status.HTTP_408_REQUEST_TIMEOUT,
            detail=f"The request body was not received within {timeout_s:g} s",
        )


class BodyTimeoutMiddleware:
    """Bounds the time from a request's arrival to the last byte of its body."""

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.timeout_s
        body_done = False
        timed_out = False
        response_started = False

        async def bounded_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:  # later reads wait for a disconnect: not bounded
                return await receive()
            message: Message | None = None
            with anyio.move_on_after(deadline - anyio.current_time()):
                message = await receive()
            if message is None:
                timed_out = True
                raise RequestBodyTimeoutError(self.timeout_s)
            if message["type"] != "http.request" or not message.get("more_body"):
                body_done = True
            return message

        async def send_closing(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                if timed_out:  # the rest of the body may still come: do not reuse
                    headers = [*message.get("headers", []), CLOSE]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, bounded_receive, send_closing)
        except RequestBodyTimeoutError as exc:
            # Raised outside FastAPI's own handling (a plain Starlette route, say).
            if response_started:
                raise
            response = JSONResponse(
                {"detail": exc.detail},
                status_code=exc.status_code,
                headers={"connection": "close"},
            )
            await response(scope, receive, send)
