"""Domain errors and their mapping to ``{"detail": ...}`` responses."""

from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class DomainError(Exception):
    """A refusal the client can act on; subclasses set the status code and message."""

    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    detail: ClassVar[str] = "The request could not be processed"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        self.message = detail or self.detail


class ErrorMessage(BaseModel):
    """An error body whose ``detail`` is one message."""

    detail: str


# FastAPI refuses a body it cannot read at all (JSON that is not UTF-8, broken multipart)
# with 400 {"detail": ...} before validation runs; every operation taking a body lists it.
UNREADABLE_BODY: Final[dict[int | str, dict[str, Any]]] = {
    status.HTTP_400_BAD_REQUEST: {
        "model": ErrorMessage,
        "description": "The body could not be read: JSON that is not UTF-8, or broken "
        "multipart data (a readable body with wrong fields is a 422)",
        "content": {
            "application/json": {
                "example": {"detail": "There was an error parsing the body"}
            }
        },
    }
}


def register_error_handlers(app: FastAPI) -> None:
    """Render every ``DomainError`` as JSON with its own status code."""

    @app.exception_handler(DomainError)
    async def _render_domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)
