"""/docs and /redoc render in a real browser with no internet access.

A real server (``tests/e2e/server.py``) serves the pages; headless Chromium loads them with
every name lookup but 127.0.0.1 disabled, runs their JavaScript for a virtual-time budget,
and dumps the DOM. The browser's network log shows which URLs the page asked for.

SLOW (about 2 s per page load, plus the server start): marked ``browser``. Skipped when
Chromium is absent, except in CI (``CI`` set by .ci/run), where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.server import ServerProcess, running_server
from tests.ux.browser import chromium_or_skip, foreign, load

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    chromium_or_skip()
    with running_server(tmp_path_factory.mktemp("browser-docs")) as running:
        yield running


class _LoadedUrls(HTMLParser):
    """URLs that script/link/img/iframe tags of a (rendered) DOM point at."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in {"script", "link", "img", "iframe", "source", "video", "audio"}:
            return
        for name, value in attrs:
            if name in {"src", "href", "srcset"} and value:
                self.urls.append(value)


def external_references(dom: str) -> list[str]:
    parser = _LoadedUrls()
    parser.feed(dom)
    return [
        url
        for url in parser.urls
        if (
            urlsplit(url).scheme in {"http", "https"}
            and urlsplit(url).hostname != "127.0.0.1"
        )
        or url.startswith("//")
    ]


def test_swagger_ui_renders_every_operation_from_local_assets(
    server: ServerProcess, tmp_path: Path
) -> None:
    page = load(f"{server.base_url}/docs", budget_ms=5000)

    # Swagger UI 5 rendered the OpenAPI 3.1 schema (version 4 would refuse to).
    assert "Unable to render this definition" not in page.dom
    assert 'class="opblock ' in page.dom or 'class="opblock"' in page.dom
    for path in ("/orders", "/orders/{order_id}", "/products", "/health"):
        assert f'data-path="{path}"' in page.dom, f"no operation block for {path}"
    assert "fastapi-tasks demo" in page.dom  # the API title

    local = {urlsplit(u).path for u in page.page_requests}
    assert {"/docs", "/static/docs/swagger-ui-bundle.js", "/openapi.json"} <= local
    assert foreign(page.page_requests) == [], (
        "the page asked another host for something"
    )
    assert external_references(page.dom) == []


def test_redoc_renders_from_local_assets_without_web_fonts(
    server: ServerProcess,
) -> None:
    page = load(f"{server.base_url}/redoc", budget_ms=5000)

    assert "http-verb" in page.dom, "ReDoc did not render any operation"
    assert "/orders/{order_id}" in page.dom
    assert "fastapi-tasks demo" in page.dom

    local = {urlsplit(u).path for u in page.page_requests}
    assert {"/redoc", "/static/docs/redoc.standalone.js", "/openapi.json"} <= local
    assert foreign(page.page_requests) == [], (
        "the page asked another host for something"
    )
    assert not any("fonts" in u for u in page.page_requests)
    assert external_references(page.dom) == []
