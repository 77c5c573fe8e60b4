"""The OpenAPI document is good enough to learn the API from /docs alone.

Per operation (one test case each, so a failure names the endpoint): a summary, tags that
are declared with a description, documented 4xx answers for any operation that takes input
(404 for those addressing a resource by id), and examples for JSON request and response
bodies. The endpoints belong to the domain helpers; this test only reads the schema.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.config import Settings
from app.main import create_app

METHODS = {"get", "put", "post", "patch", "delete"}


def _schema() -> dict[str, Any]:
    return create_app(Settings(_env_file=None, mode="mock")).openapi()


SCHEMA = _schema()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
    if method in METHODS
]
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]

# Known gaps, reported to the endpoints' owner (foundation helper: /health and /demo). Strict
# xfail: once an example is added the case passes, the xfail fails, and the entry goes.
MISSING_EXAMPLES: set[str] = set()
EXAMPLE_CASES = [
    pytest.param(
        method,
        path,
        operation,
        id=f"{method} {path}",
        marks=[
            pytest.mark.xfail(
                strict=True, reason="no response example yet (owner: foundation)"
            )
        ]
        if f"{method} {path}" in MISSING_EXAMPLES
        else [],
    )
    for method, path, operation in OPERATIONS
]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = SCHEMA["components"]["schemas"][name]
    return schema


def _has_example(media: dict[str, Any]) -> bool:
    """An example at the media level, on the (resolved) schema, or on each required field."""
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = _resolve(media.get("schema", {}))
    if schema.get("type") == "array" and "items" in schema:
        schema = _resolve(schema["items"])
    if schema.get("example") is not None or schema.get("examples"):
        return True
    properties = schema.get("properties", {})
    required = schema.get("required", list(properties))
    return bool(required) and all(
        "examples" in properties[name] or "example" in properties[name]
        for name in required
    )


def test_declared_tags_have_descriptions() -> None:
    tags = SCHEMA.get("tags", [])
    assert {tag["name"] for tag in tags} >= {
        "orders",
        "users",
        "images",
        "analytics",
        "operations",
        "demo",
    }
    assert all(tag.get("description") for tag in tags)
    assert SCHEMA["info"]["title"] != "FastAPI"
    assert SCHEMA["info"].get("description")


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_operation_has_summary_and_declared_tags(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation.get("summary"), f"{method} {path} has no summary"
    declared = {tag["name"] for tag in SCHEMA.get("tags", [])}
    assert operation.get("tags"), f"{method} {path} has no tag"
    assert set(operation["tags"]) <= declared, f"{method} {path}: undeclared tags"


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_operation_documents_its_client_errors(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation.get("responses", {})
    takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
    if takes_input:
        assert any(code.startswith("4") for code in responses), (
            f"{method} {path}: no 4xx"
        )
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        assert "404" in responses, (
            f"{method} {path} addresses a resource but documents no 404"
        )
    for code, response in responses.items():
        if code.startswith("4"):
            assert response.get("description"), (
                f"{method} {path} {code}: no description"
            )


@pytest.mark.parametrize(("method", "path", "operation"), EXAMPLE_CASES)
def test_operation_has_request_and_response_examples(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        assert _has_example(body), f"{method} {path}: request body has no example"
    for code, response in operation.get("responses", {}).items():
        media = response.get("content", {}).get("application/json")
        if code.startswith("2") and media is not None:
            assert _has_example(media), (
                f"{method} {path}: {code} response has no example"
            )
