"""Domain errors, their ``{"detail": ...}`` responses, and their OpenAPI documentation.

Every refusal is a class that knows its status code, an example message and when it
happens (``summary``). ``error_responses(*classes)`` turns classes into the ``responses=``
of a route, so what the schema promises is what the code raises, with no message copied.
"""

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app.body_timeout import RequestBodyTimeoutError


class DomainError(Exception):
    """A refusal the client can act on; subclasses set the status code and message."""

    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    detail: ClassVar[str] = "The request could not be processed"
    # When it happens, for the API documentation (defaults to the docstring's first line).
    summary: ClassVar[str] = ""
    # Response headers, documented (names -> description) and sent (``self.headers``).
    documented_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(
        self, detail: str | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail or self.detail)
        self.message = detail or self.detail
        self.headers = dict(headers or {})


class ErrorMessage(BaseModel):
    """An error body whose ``detail`` is one message."""

    detail: str


class UnreadableBodyError(DomainError):
    """Documents FastAPI's own 400 for a body it cannot read (FastAPI raises it)."""

    status_code = status.HTTP_400_BAD_REQUEST
    detail = "There was an error parsing the body"
    summary = (
        "The body could not be read: JSON that is not UTF-8, or broken multipart data "
        "(a readable body with wrong fields is a 422)"
    )


Documented = type[DomainError] | type[HTTPException]


def _describe(error: Documented) -> tuple[int, str, str, Mapping[str, str]]:
    # (status, example detail, summary, headers), read from the class itself.
    code = getattr(error, "status_code", None)
    detail = getattr(error, "detail", None)
    if not isinstance(code, int) or not isinstance(detail, str):
        raise TypeError(f"{error.__name__} declares no status_code and detail")
    summary = getattr(error, "summary", "") or (error.__doc__ or "").strip()
    headers: Mapping[str, str] = getattr(error, "documented_headers", {})
    return code, detail, summary.split("\n\n")[0].replace("\n", " "), headers


def error_responses(
    *errors: Documented,
    invalid: str | None = None,
    invalid_example: tuple[str, str] | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses=`` of a route that may raise ``errors``.

    Errors sharing a status code share one entry (summaries joined, one example each).
    ``invalid`` describes the route's validation 422 (``invalid_example``: the body field
    and message of an example); a 422 that is also a domain error documents both shapes.
    """
    grouped: dict[int, list[Documented]] = {}
    for error in errors:
        grouped.setdefault(_describe(error)[0], []).append(error)
    if invalid is not None:
        grouped.setdefault(status.HTTP_422_UNPROCESSABLE_CONTENT, [])
    responses: dict[int | str, dict[str, Any]] = {}
    for code, members in sorted(grouped.items()):
        described = [_describe(error) for error in members]
        summaries = [summary for _, _, summary, _ in described]
        examples = {
            error.__name__: {"summary": summary, "value": {"detail": detail}}
            for error, (_, detail, summary, _) in zip(members, described, strict=True)
        }
        schema: dict[str, Any] = ErrorMessage.model_json_schema()
        if code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            # Validation errors (a list of problems) and domain refusals (one message).
            validation = {"$ref": "#/components/schemas/HTTPValidationError"}
            schema = {"anyOf": [validation, schema]} if members else validation
            summaries.insert(0, invalid or "The input does not match the schema")
            if invalid_example is not None:
                field, msg = invalid_example
                problem = {"loc": ["body", field], "msg": msg, "type": "value_error"}
                examples = {
                    "ValidationError": {"value": {"detail": [problem]}},
                    **examples,
                }
        entry: dict[str, Any] = {
            "description": "; or ".join(summaries),
            "content": {"application/json": {"schema": schema, "examples": examples}},
        }
        headers = {
            name: {"description": text, "schema": {"type": "string"}}
            for _, _, _, documented in described
            for name, text in documented.items()
        }
        if headers:
            entry["headers"] = headers
        responses[code] = entry
    return responses


# FastAPI refuses a body it cannot read at all with 400 before validation runs, and a body
# that does not arrive in time is a 408 (app.body_timeout): every operation taking a body
# lists both.
UNREADABLE_BODY: Final = error_responses(UnreadableBodyError, RequestBodyTimeoutError)


def register_error_handlers(app: FastAPI) -> None:
    """Render every ``DomainError`` as JSON with its own status code (and headers)."""

    @app.exception_handler(DomainError)
    async def _render_domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.message}, status_code=exc.status_code, headers=exc.headers
        )
