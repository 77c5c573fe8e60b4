"""The hostile-input catalogue: every operation, every input position, every nasty value.

For each operation in the app's own OpenAPI document (a new endpoint joins by itself; one
taking a body needs a valid example in ``BODIES``), a valid request is built and sent once
(it must not be a 422: the mutations below then test the field, not a broken base). Then
every input position — each JSON leaf and container at any depth, each query and path
parameter, the upload's file name, one unknown query parameter — gets each hostile value
in turn. Every answer must be under 500 and, when 4xx, a JSON ``{"detail": ...}``. What
can never be valid must be refused with a 4xx: NUL and lone surrogates in any string,
numbers past 64 bits and wrong types in any typed field. 2**63 - 1 is a valid id: it
must only never be a 500 (the database has to hold it).
"""

import io
import itertools
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from PIL import Image

from app.config import Settings
from app.main import create_app
from tests.conftest import sqlite_url
from tests.databases import ON_POSTGRES, create_database, drop_database, unique_name

pytestmark = pytest.mark.anyio

Position = tuple[str | int, ...]


@dataclass(frozen=True)
class Hostile:
    """A value to put where a valid one was, and whether it can ever be valid there."""

    label: str
    value: Any
    # Refused (4xx) in any typed field; in free-form JSON only if it breaks the text rule.
    never_text: bool = False
    never_typed: bool = True


HOSTILE: Final = (
    Hostile("nul", "a\x00b", never_text=True),
    Hostile("lone surrogate", "a\ud800b", never_text=True),
    Hostile("only nul", "\x00", never_text=True),
    Hostile("2**63-1", 2**63 - 1, never_typed=False),
    Hostile("2**63", 2**63),
    Hostile("10**30", 10**30),
    Hostile("-2**63-1", -(2**63) - 1),
    Hostile("huge float", 1.7e308),
    Hostile("list", [1, "\x00"]),
    Hostile("object", {"\x00": "\ud800"}),
    Hostile("null", None, never_typed=False),  # optional fields take null
    Hostile("bool", True, never_typed=False),  # pydantic reads true as 1 in int fields
    Hostile("empty", "", never_typed=False),
    # longer than any column: a field without a limit must not reach the database's
    Hostile("long text", "\u00e9" * 5000, never_typed=False),
)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Call:
    """One request: method, path template with its parameters, query, body."""

    method: str
    path: str
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    filename: str | None = None  # a multipart upload of a small PNG under this name
    text_params: frozenset[str] = frozenset()  # parameters that take any text

    def url(self) -> str:
        path = self.path
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", _url_text(value))
        query = "&".join(f"{k}={_url_text(v)}" for k, v in self.query.items())
        return f"{path}?{query}" if query else path

    async def send(self, http: httpx.AsyncClient) -> httpx.Response:
        if self.filename is not None:
            disposition = b'form-data; name="file"; filename="' + _raw(self.filename)
            body = (
                b"--XyZ\r\nContent-Disposition: " + disposition + b'"\r\n'
                b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--XyZ--\r\n"
            )
            headers = {"content-type": "multipart/form-data; boundary=XyZ"}
            return await http.request(
                self.method, self.url(), content=body, headers=headers
            )
        if self.json is None:
            return await http.request(self.method, self.url())
        # ensure_ascii: a lone surrogate travels as the JSON escape "\ud800", as an
        # attacker sends it (it cannot be encoded as UTF-8 bytes at all)
        content = json.dumps(self.json, ensure_ascii=True)
        # "{n}" makes a value unique per request (an address taken by an earlier
        # request would answer 409 before a hostile field had to be refused)
        content = content.replace("{n}", str(next(UNIQUE)))
        return await http.request(
            self.method,
            self.url(),
            content=content.encode(),
            headers={"content-type": "application/json"},
        )


PNG: Final = _png()
UNIQUE: Final = itertools.count()

# A valid body for every operation that takes one (the catalogue fails without it).
BODIES: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("POST", "/orders"): {
        "json": {
            "user_id": 42,
            "email": "ada@example.com",
            "items": [{"product_id": 1, "quantity": 1, "price": 89.99}],
            "payment_token": "tok_visa",
        }
    },
    ("POST", "/register"): {
        "json": {
            "email": "ada{n}@example.com",
            "password": "correct horse",
            "name": "Ada",
        }
    },
    ("POST", "/verification/resend"): {"json": {"email": "ada@example.com"}},
    ("POST", "/track"): {
        "json": {
            "event": "page_view",
            "user_id": 1,
            "properties": {"path": "/products", "seen": {"ids": ["a", 1]}},
        }
    },
    ("POST", "/upload-image"): {"filename": "photo.png"},
    ("PUT", "/demo/faults"): {"json": {"payment": "ok", "email": "ok"}},
}
# Parameters whose valid value is not the schema-derived one.
PARAMETERS: Final[dict[str, Any]] = {"token": "not-a-real-token", "path": "images/x"}


def _raw(text: str) -> bytes:
    # Lone surrogates as the bytes a client would put on the wire (CESU-style).
    return text.encode("utf-8", "surrogatepass")


def _url_text(value: Any) -> str:
    if isinstance(value, str):
        return quote(_raw(value), safe="/")
    return quote(json.dumps(value), safe="")


def _example(schema: dict[str, Any]) -> Any:
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _example(option)
    if "enum" in schema:
        return schema["enum"][0]
    if "$ref" in schema:
        return "pending"  # the only referenced parameter type: an OutboxStatus
    return {"integer": 1, "number": 1, "boolean": True}.get(schema.get("type", ""), "x")


def _operations(app: FastAPI) -> list[Call]:
    calls = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params: dict[str, dict[str, Any]] = {"path": {}, "query": {}}
            text_params = set()
            for parameter in operation.get("parameters", []):
                name, schema = parameter["name"], parameter["schema"]
                params[parameter["in"]][name] = PARAMETERS.get(name, _example(schema))
                if schema.get("type") == "string" and "enum" not in schema:
                    text_params.add(name)
            body = BODIES.get((method.upper(), path), {})
            assert body or "requestBody" not in operation, (
                f"{method.upper()} {path} takes a body: add a valid one to BODIES"
            )
            calls.append(
                Call(
                    method.upper(),
                    path,
                    params["path"],
                    params["query"],
                    text_params=frozenset(text_params),
                    **body,
                )
            )
    return calls


def _shape_only_app() -> FastAPI:
    return create_app(
        Settings(
            _env_file=None,
            mode="mock",
            database_url="sqlite+aiosqlite:///:memory:",
            data_dir=Path("unused"),
        )
    )


CALLS: Final = _operations(_shape_only_app())


def _positions(value: Any, at: Position = ()) -> Iterator[Position]:
    """Every place in a JSON value (containers too, not the root)."""
    if at:
        yield at
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _positions(inner, (*at, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _positions(inner, (*at, index))


def _put(value: Any, at: Position, new: Any) -> Any:
    if not at:
        return new
    head, *rest = at
    if isinstance(value, dict):
        return {**value, head: _put(value[head], tuple(rest), new)}
    copy = list(value)
    copy[int(head)] = _put(copy[int(head)], tuple(rest), new)
    return copy


# What a position accepts: a typed field (only valid values of its type), free-form JSON
# (anything, within the text rule), text on the wire (a query string or a file name: any
# text, where the bytes of a lone surrogate arrive decoded with replacement characters,
# so only NUL is left to refuse), or nothing at all (an unknown parameter is ignored).
Kind = Literal["typed", "free_json", "wire_text", "ignored"]


@dataclass(frozen=True)
class Mutation:
    call: Call
    where: str
    hostile: Hostile
    kind: Kind


def _mutations(call: Call) -> Iterator[Mutation]:
    for hostile in HOSTILE:
        for position in _positions(call.json):
            free = position[0] == "properties" and len(position) > 1
            yield Mutation(
                replace(call, json=_put(call.json, position, hostile.value)),
                f"body {'.'.join(map(str, position))}",
                hostile,
                "free_json" if free else "typed",
            )
        for name in call.query:
            query = {**call.query, name: hostile.value}
            yield Mutation(
                replace(call, query=query), f"query {name}", hostile, _kind(call, name)
            )
        for name in call.path_params:
            params = {**call.path_params, name: hostile.value}
            yield Mutation(
                replace(call, path_params=params),
                f"path {name}",
                hostile,
                _kind(call, name),
            )
        if call.filename is not None and isinstance(hostile.value, str):
            yield Mutation(
                replace(call, filename=hostile.value), "file name", hostile, "wire_text"
            )
        unknown = {**call.query, "extra": hostile.value}
        yield Mutation(
            replace(call, query=unknown), "unknown query", hostile, "ignored"
        )
    if isinstance(call.json, dict) and "properties" in call.json:
        for key in ("a\x00", "\ud800", "ok"):
            nested = {"deep": [{key: "fine"}, {"x": "y\x00" if key == "ok" else "z"}]}
            yield Mutation(
                replace(call, json={**call.json, "properties": nested}),
                f"properties key {key!r}",
                HOSTILE[0],
                "free_json",
            )


def _kind(call: Call, parameter: str) -> Kind:
    return "wire_text" if parameter in call.text_params else "typed"


def _must_refuse(mutation: Mutation) -> bool:
    hostile = mutation.hostile
    match mutation.kind:
        case "ignored":
            return False
        case "free_json":
            return hostile.never_text
        case "wire_text":
            return isinstance(hostile.value, str) and "\x00" in hostile.value
    if mutation.where.startswith("path") and hostile.label == "2**63-1":
        return True  # no such resource: 404
    return hostile.never_text or hostile.never_typed


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def module_database_url(
    tmp_path_factory: pytest.TempPathFactory, migrated_database: str
) -> Iterator[str]:
    """A migrated database shared by the catalogue's tests (SQLite or PostgreSQL)."""
    if ON_POSTGRES:
        name = unique_name("hostile")
        yield create_database(name, template=migrated_database)
        drop_database(name)
        return
    path = tmp_path_factory.mktemp("hostile") / "app.db"
    shutil.copyfile(migrated_database, path)
    yield sqlite_url(path)


@pytest.fixture(scope="module")
async def http(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """One app for the whole catalogue (a fresh one per operation would cost ~1 s each)."""
    root = tmp_path_factory.mktemp("hostile-data")
    settings = Settings(
        _env_file=None,
        mode="mock",
        database_url=module_database_url,
        data_dir=root,
        upload_dir=root / "uploads",
        bcrypt_rounds=4,
        shutdown_timeout_s=5.0,
    )
    app = create_app(settings)
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://test",
        ) as client,
    ):
        yield client


@pytest.mark.parametrize("call", CALLS, ids=[f"{c.method} {c.path}" for c in CALLS])
async def test_hostile_inputs_are_refused_with_a_detail_and_never_a_500(
    http: httpx.AsyncClient, call: Call
) -> None:
    base = await call.send(http)
    assert base.status_code not in (422, *range(500, 600)), (
        f"the valid request is refused: {base.status_code} {base.text}"
    )

    problems = []
    for mutation in _mutations(call):
        response = await mutation.call.send(http)
        code = response.status_code
        label = (
            f"{mutation.where} = {mutation.hostile.label}: {code} {response.text[:200]}"
        )
        if code >= 500:
            problems.append(f"5xx for {label}")
        elif code >= 400 and not _has_detail(response):
            problems.append(f"no JSON detail for {label}")
        elif code < 400 and _must_refuse(mutation):
            problems.append(f"accepted {label}")
    assert problems == []


def _has_detail(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and bool(body.get("detail"))


def test_the_catalogue_covers_every_operation_and_every_input() -> None:
    assert len(CALLS) == sum(
        len(operations) for operations in _shape_only_app().openapi()["paths"].values()
    )
    # the parts of the rule the task names: body, nested properties, query, upload name
    wheres = {m.where for call in CALLS for m in _mutations(call)}
    assert {"body properties.seen.ids.0", "query token", "file name"} <= wheres
