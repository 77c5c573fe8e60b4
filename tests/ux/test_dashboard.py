"""The dashboard at ``/``: a self-contained page that shows a real order's tasks live.

Page checks run in-process (ASGI). The browser test starts the real server, places an order
through the API, then loads ``/`` in headless Chromium: the page's own poll loop (driven by
the virtual-time budget) fetches ``/demo/tasks``, ``/demo/outbox``, ``/demo/calls`` and
``/demo/faults`` and renders them; the dumped DOM must show the order's tasks in their lanes.
A screenshot is kept at ``artifacts/dashboard.png``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.demo.dashboard import page
from app.main import create_app
from tests.e2e.server import ServerProcess, running_server
from tests.ux.browser import chromium_or_skip, foreign, load, script_syntax_error

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "artifacts" / "dashboard.png"


# ---- the page itself (fast, in-process) ---------------------------------------------------


@pytest.mark.anyio
async def test_dashboard_is_one_self_contained_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "://" not in html, "no absolute URL: no CDN, no web font, no external asset"
    assert "<link" not in html, "styles are inline"
    assert re.search(r"<script[^>]*\bsrc=", html) is None, "the script is inline"
    for endpoint in ('"demo/tasks"', "`demo/outbox?", "`demo/calls?", '"demo/faults"'):
        assert endpoint in html, f"the page does not poll {endpoint}"
    # The per-second clock sits outside the live region, so screen readers announce only
    # connection changes, not every poll.
    assert '<span id="status-text" role="status" aria-live="polite">' in html
    assert '<span id="updated"></span>' in html
    for mode in ("immediate", "after_route", "after_response"):
        assert f"<b>{mode}</b>" in html, f"the legend does not explain {mode}"


@pytest.mark.anyio
async def test_dashboard_policy_allows_only_its_own_inline_script(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    (script,) = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.anyio
async def test_dashboard_is_not_in_the_api_schema(client: httpx.AsyncClient) -> None:
    assert "/" not in (await client.get("/openapi.json")).json()["paths"]


@pytest.mark.anyio
async def test_no_dashboard_in_live_mode(settings: Settings) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"mode": "live"}))
    paths = {getattr(route, "path", None) for route in app.routes}
    assert "/" not in paths
    assert "/demo/tasks" not in paths
    assert "/docs" in paths, "the docs stay in live mode"


def test_dashboard_script_is_valid_javascript(tmp_path: Path) -> None:
    # Parsed by Chromium (skips outside CI without it, fails in CI), not node.
    (script,) = re.findall(r"<script>(.*?)</script>", page(), re.DOTALL)
    assert script_syntax_error(script, tmp_path) is None


# ---- the page in a browser, against a real server -----------------------------------------


@dataclass
class Rendered:
    """What the dumped DOM shows: requests (route + tasks per lane), outbox, calls, faults."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[str] = field(default_factory=list)
    promises: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    pressed_faults: dict[str, str] = field(default_factory=dict)
    status: str = ""


class _DashboardReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.out = Rendered()
        self._mode: str | None = None
        self._capture: str | None = None
        self._text: list[str] = []
        self._section: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "article" and "request" in classes:
            self.out.requests.append(
                {"route": "", "lanes": {}, "id": a.get("data-request", "")}
            )
        elif "lane" in classes:
            self._mode = a.get("data-mode")
            if self.out.requests and self._mode:
                self.out.requests[-1]["lanes"].setdefault(self._mode, [])
        elif "task" in classes and self.out.requests and self._mode:
            self.out.requests[-1]["lanes"][self._mode].append(
                (a.get("data-task", ""), a.get("data-state", ""))
            )
        elif tag == "span" and "route" in classes:
            self._start_capture("route")
        elif a.get("data-promise"):
            self.out.promises.append(a.get("data-state", ""))
        elif a.get("id") in {"outbox", "calls"}:
            self._section = a["id"]
        elif tag == "summary" and self._section:
            self._start_capture(self._section)
        elif (
            tag == "button"
            and a.get("aria-pressed") == "true"
            and a.get("data-service")
        ):
            self.out.pressed_faults[a["data-service"]] = a.get("data-value", "")
        elif a.get("id") == "status":
            self.out.status = a.get("class", "")

    def _start_capture(self, what: str) -> None:
        self._capture = what
        self._text = []

    def handle_data(self, data: str) -> None:
        if self._capture:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._capture == "route" and tag == "span":
            self.out.requests[-1]["route"] = "".join(self._text).strip()
            self._capture = None
        elif self._capture in {"outbox", "calls"} and tag == "summary":
            getattr(self.out, self._capture).append(
                " ".join("".join(self._text).split())
            )
            self._capture = None


def read_dashboard(dom: str) -> Rendered:
    reader = _DashboardReader()
    reader.feed(dom)
    return reader.out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    chromium_or_skip()
    with running_server(tmp_path_factory.mktemp("dashboard")) as running:
        yield running


def _place_order(http: httpx.Client) -> int:
    product = next(p for p in http.get("/products").json() if p["available"] > 0)
    response = http.post(
        "/orders",
        json={
            "user_id": 7,
            "email": "grace@example.com",
            "items": [
                {
                    "product_id": product["product_id"],
                    "quantity": 1,
                    "price": product["price"],
                }
            ],
            "payment_token": "tok_visa",
        },
    )
    assert response.status_code == 202, response.text
    order_id: int = response.json()["order_id"]
    return order_id


def _wait_until_settled(http: httpx.Client, order_id: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        order = http.get(f"/orders/{order_id}").json()
        tasks = http.get("/demo/tasks").json()
        busy = [t for t in tasks if t["state"] in {"pending", "running"}]
        if (
            order["status"] != "processing"
            and not busy
            and http.get("/demo/outbox").json()
        ):
            return
        assert time.monotonic() < deadline, (
            f"order {order_id} still settling: {order}, {busy}"
        )
        time.sleep(0.05)  # polling with a deadline


@pytest.mark.e2e
@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_shows_a_real_orders_tasks_in_their_lanes(
    server: ServerProcess,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=5) as http:
        order_id = _place_order(http)
        _wait_until_settled(http, order_id)
        # A fault switched on through the API shows as the pressed button.
        assert http.put("/demo/faults", json={"cdn": "down"}).status_code == 200
        outbox = http.get("/demo/outbox").json()
        try:
            page_load = load(
                f"{server.base_url}/", budget_ms=3000, screenshot=SCREENSHOT
            )
        finally:
            http.put("/demo/faults", json={"cdn": "ok"})

    shown = read_dashboard(page_load.dom)
    assert shown.status == "live", "the poll loop did not reach /demo/tasks"
    orders = [r for r in shown.requests if "/orders" in r["route"]]
    assert orders, (
        f"no request group for POST /orders in {[r['route'] for r in shown.requests]}"
    )
    lanes = orders[0]["lanes"]
    assert set(lanes) >= {"immediate", "after_route", "after_response"}
    assert ("orders.charge_payment", "succeeded") in lanes["immediate"]
    assert ("orders.reserve_stock", "succeeded") in lanes["after_route"]
    after_response = {name for name, _ in lanes["after_response"]}
    assert {"orders.send_order_email", "orders.notify_warehouse"} <= after_response

    # where the endpoint had returned / the response had been sent, drawn across the tracks
    assert 'class="mark m-route"' in page_load.dom
    assert 'class="mark m-response"' in page_load.dom

    assert any(outbox[-1]["subject"] in item for item in shown.outbox), shown.outbox
    # The order's transactional outbox rows: its e-mail and its shipment, both delivered.
    assert shown.promises.count("sent") >= 2, shown.promises
    assert any("payment" in call for call in shown.calls), shown.calls
    assert shown.pressed_faults.get("cdn") == "down"
    assert shown.pressed_faults.get("payment") == "ok"

    assert foreign(page_load.page_requests) == []
    assert SCREENSHOT.is_file()
    assert SCREENSHOT.stat().st_size > 10_000
