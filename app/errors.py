"""Domain errors and their mapping to ``{"detail": ...}`` responses."""

from typing import ClassVar

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse


class DomainError(Exception):
    """A refusal the client can act on; subclasses set the status code and message."""

    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    detail: ClassVar[str] = "The request could not be processed"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.message = detail or self.detail


def register_error_handlers(app: FastAPI) -> None:
    """Render every ``DomainError`` as JSON with its own status code."""

    @app.exception_handler(DomainError)
    async def _render_domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
