"""``GET /``: the live dashboard, ``dashboard.html`` beside this module (CSS and JavaScript inline)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@lru_cache(maxsize=1)
def page() -> str:
    """The dashboard HTML, read once from the package."""
    return (
        resources.files(__package__)
        .joinpath("dashboard.html")
        .read_text(encoding="utf-8")
    )


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    """A policy that lets the page talk to this server only: no CDN, no fonts, no beacons.

    The inline script is allowed by its hash, so nothing injected into the page could run.
    """
    hashes = " ".join(
        "'sha256-{}'".format(
            base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode(
                "ascii"
            )
        )
        for body in _SCRIPT.findall(page())
    )
    return (
        "default-src 'none'; "
        f"script-src {hashes}; "
        "style-src 'unsafe-inline'; "
        "img-src 'self' data: blob:; "
        "connect-src 'self'; "
        "form-action 'self'; "
        "base-uri 'none'; "
        "frame-ancestors 'none'"
    )


@router.get("/", response_class=HTMLResponse)
async def dashboard() -> HTMLResponse:
    """The live task timeline, outbox, fake-service calls and fault switches."""
    return HTMLResponse(
        page(),
        headers={
            "Content-Security-Policy": content_security_policy(),
            "Cache-Control": "no-store",
        },
    )
