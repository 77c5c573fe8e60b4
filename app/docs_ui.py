"""Interactive API docs that work with no internet access.

FastAPI's default ``/docs`` and ``/redoc`` pages load Swagger UI, ReDoc and Google fonts from
CDNs. Here the same pages load Swagger UI 5 and ReDoc from the ``fastapi-offline`` package's
static folder, mounted on the app, so the docs render on a laptop on a plane or in a locked-down
container. (Swagger UI 4, as shipped by ``swagger-ui-bundle``, cannot render OpenAPI 3.1, which
is what FastAPI emits.)

``install_offline_docs(app)`` also gives the OpenAPI document its title, description, version
and one described tag per example.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR: Final = Path(fastapi_offline.__file__).parent / "static"
"""Swagger UI 5 bundle + CSS, ReDoc standalone bundle and a favicon."""

ASSETS_PATH: Final = "/static/docs"
"""Where the assets are mounted on the app."""

API_TITLE: Final = "fastapi-tasks demo service"

API_DESCRIPTION: Final = """\
The reference demo for **fastapi-tasks**: four real-world background-task patterns, built for
real on SQLite with every external system (payment gateway, e-mail, CDN, warehouse, analytics,
alerting) reached over HTTP.

Each example uses the three timing modes of the task library:

| mode | when it starts | what it guarantees |
|---|---|---|
| `immediate` | at once, concurrently with the endpoint | the work is already under way while the endpoint runs |
| `after_route` | after the endpoint returned, **before** the response is sent | started, in order, before the client sees the response (which does not wait for it to finish) |
| `after_response` | after the whole response was sent | adds no latency; not started if the endpoint failed |

In mock mode (the default) the `demo` endpoints show what the fake external systems received,
let you switch faults on, and list the tasks that ran; the dashboard at `/` shows them live.
"""

OPENAPI_TAGS: Final[list[dict[str, Any]]] = [
    {
        "name": "orders",
        "description": "Example 1, e-commerce checkout: payment charged as an **immediate**, "
        "shielded task with an error handler (a lost answer is retried with the same "
        "idempotency key, never booked as a decline); stock reserved and the order settled "
        "**after_route**; the confirmation e-mail and the warehouse notification, written to "
        "the outbox with the settlement, and analytics **after_response**.",
    },
    {
        "name": "users",
        "description": "Example 2, registration with e-mail verification: the verification "
        "e-mail is written to the outbox with the user and goes out **after_response** with "
        "retries and exponential back-off, then one alert if it still fails; "
        "`POST /verification/resend` sends a fresh link (at most once a minute).",
    },
    {
        "name": "images",
        "description": "Example 3, image pipeline: an **immediate** task resizes the upload, "
        "makes a thumbnail and pushes the files to the CDN in parallel; poll the image for "
        "its status.",
    },
    {
        "name": "analytics",
        "description": "Example 4, batched analytics: events are buffered per user and flushed "
        "in batches, with a database fallback when the analytics service is down.",
    },
    {
        "name": "operations",
        "description": "Health check, and the transactional outbox: every e-mail, shipment "
        "and alert a state change promised, and whether it was delivered.",
    },
    {
        "name": "demo",
        "description": "Mock mode only: what the fake external systems received (e-mail "
        "outbox, recorded calls, payments, shipments), fault switches, and the task "
        "registry. Their state lives in DATA_DIR/fakes.db: it survives a restart.",
    },
]


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(html: str) -> str:
    """Let a docs page load from this server only.

    The bundles need inline styles and blob: workers; the page's own inline script (Swagger
    UI's start-up call) is allowed by its hash. Everything else, such as the Redocly logo
    ReDoc's sidebar footer would fetch from its CDN, is blocked before it reaches the network.
    """
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'self'; "
        f"script-src 'self'{hashes}; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; "
        "font-src 'self' data:; "
        "worker-src 'self' blob:; "
        "connect-src 'self'; "
        "base-uri 'none'; "
        "frame-ancestors 'none'"
    )


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode("utf-8")
    page.headers["Content-Security-Policy"] = content_security_policy(html)
    return page


def _installed_version() -> str | None:
    try:
        return metadata.version("fastapi-tasks-demo")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return None


def describe_api(app: FastAPI) -> None:
    """Give the OpenAPI document a title, description, version and described tags.

    Values the app was created with are kept, except FastAPI's own placeholders.
    """
    if app.title == "FastAPI":
        app.title = API_TITLE
    if not app.description:
        app.description = API_DESCRIPTION
    installed = _installed_version()
    if installed and app.version in {"", "0.1.0"}:  # FastAPI's placeholder
        app.version = installed
    known = {tag["name"] for tag in app.openapi_tags or []}
    app.openapi_tags = [
        *(app.openapi_tags or []),
        *(t for t in OPENAPI_TAGS if t["name"] not in known),
    ]
    app.openapi_schema = None  # rebuild with the new metadata on next use


def install_offline_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI 5) and ``/redoc`` from assets mounted on the app itself.

    The app must be created with ``docs_url=None, redoc_url=None``; otherwise FastAPI has already
    registered its CDN-backed pages on those paths.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError(
            "create the app with FastAPI(docs_url=None, redoc_url=None): "
            "install_offline_docs() serves /docs and /redoc itself"
        )
    if app.openapi_url is None:
        raise ValueError("the app has no OpenAPI schema (openapi_url=None) to document")
    describe_api(app)

    openapi_url = app.openapi_url
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    title = app.title

    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=root + oauth2_redirect_url,
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            # validatorUrl=None: no badge image fetched from the public validator service.
            swagger_ui_parameters={
                "validatorUrl": None,
                "displayRequestDuration": True,
                "tryItOutEnabled": True,
                "defaultModelsExpandDepth": 0,
            },
        )
        return _with_policy(page)

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
        return _with_policy(page)
