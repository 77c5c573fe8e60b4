"""Offline /docs and /redoc: local assets only, every asset served, API metadata in place."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from fastapi import FastAPI

from app.docs_ui import ASSETS_DIR, OPENAPI_TAGS, describe_api, install_offline_docs

pytestmark = pytest.mark.anyio


class _References(HTMLParser):
    """Collects every URL a page makes the browser load (src/href of script, link, img...)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href", "spec-url"} and value:
                self.urls.append((tag, value))


def references(html: str) -> list[tuple[str, str]]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def docs_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/orders/{order_id}", tags=["orders"], summary="Get an order")
    async def get_order(order_id: int) -> dict[str, int]:
        return {"order_id": order_id}

    install_offline_docs(app)
    return app


@pytest.fixture
async def docs_client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=docs_app())
    async with httpx.AsyncClient(
        transport=transport, base_url="http://docs.test"
    ) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_only_local_assets(
    docs_client: httpx.AsyncClient, page: str
) -> None:
    response = await docs_client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # No absolute URL at all: no CDN script, no stylesheet, no Google fonts.
    assert "://" not in html, [line for line in html.splitlines() if "://" in line]
    assert "fonts.googleapis" not in html
    refs = references(html)
    assert refs, "expected the page to load its scripts from the app"
    for tag, url in refs:
        assert url.startswith("/"), (
            f"<{tag}> loads {url!r}, which is not served by the app"
        )


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_every_asset_a_docs_page_loads_is_served(
    docs_client: httpx.AsyncClient, page: str
) -> None:
    html = (await docs_client.get(page)).text
    urls = [url for _, url in references(html)]
    if page == "/docs":  # Swagger UI fetches the schema from its JavaScript config
        assert "url: '/openapi.json'" in html
        urls.append("/openapi.json")
    assert any(url.endswith(".js") for url in urls)
    for url in urls:
        response = await docs_client.get(url)
        assert response.status_code == 200, url
        assert response.content, url
        if url.endswith(".js"):
            assert "javascript" in response.headers["content-type"], url
        if url.endswith(".css"):
            assert response.headers["content-type"].startswith("text/css"), url


async def test_swagger_ui_is_version_5_which_renders_openapi_3_1(
    docs_client: httpx.AsyncClient,
) -> None:
    # Swagger UI 4 (swagger-ui-bundle) shows "Unable to render this definition" for 3.1.
    schema = (await docs_client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.1")
    bundle = (ASSETS_DIR / "swagger-ui-bundle.js").read_text(
        encoding="utf-8", errors="replace"
    )
    assert '"5.' in bundle
    html = (await docs_client.get("/docs")).text
    assert "SwaggerUIBundle" in html
    # no badge image from the public validator service
    assert '"validatorUrl": null' in html


async def test_oauth2_redirect_page_is_served(docs_client: httpx.AsyncClient) -> None:
    response = await docs_client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "://" not in response.text


async def test_docs_pages_are_not_in_the_schema(docs_client: httpx.AsyncClient) -> None:
    paths = (await docs_client.get("/openapi.json")).json()["paths"]
    assert set(paths) == {"/orders/{order_id}"}


def test_refuses_an_app_with_cdn_docs_already_registered() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        install_offline_docs(FastAPI())


async def test_schema_has_title_description_version_and_described_tags(
    docs_client: httpx.AsyncClient,
) -> None:
    info_and_tags = (await docs_client.get("/openapi.json")).json()
    info = info_and_tags["info"]
    assert info["title"] != "FastAPI"
    assert "after_response" in info["description"]
    assert info["version"]
    tags = {tag["name"]: tag for tag in info_and_tags["tags"]}
    assert set(tags) == {"orders", "users", "images", "analytics", "operations", "demo"}
    assert all(tag["description"] for tag in tags.values())


def test_describe_api_keeps_what_the_app_set() -> None:
    app = FastAPI(
        title="My title",
        description="Mine",
        openapi_tags=[{"name": "orders", "description": "custom"}],
    )
    describe_api(app)
    assert app.title == "My title"
    assert app.description == "Mine"
    assert app.openapi_tags is not None
    names = [tag["name"] for tag in app.openapi_tags]
    assert names.count("orders") == 1
    assert app.openapi_tags[0]["description"] == "custom"
    assert len(app.openapi_tags) == len(OPENAPI_TAGS)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_may_load_nothing_from_other_hosts(
    docs_client: httpx.AsyncClient, page: str
) -> None:
    # ReDoc's sidebar footer would fetch the Redocly logo from a CDN: the policy blocks it.
    response = await docs_client.get(page)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    for directive, sources in policy.items():
        for source in sources.split():
            assert source.startswith("'") or source in {"data:", "blob:"}, (
                directive,
                source,
            )
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
