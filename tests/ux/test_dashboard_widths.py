"""The dashboard fits the widths people use: 800 px (a browser beside a terminal) to 1400 px.

Headless Chromium (tests/ux/cdp.py) shows the dashboard of a real server that has seen an
approved, a declined and a sold-out order and a registration; the viewport is then set to
each width. Nothing may scroll sideways, and the labels people read (the product dropdown,
the e-mail subjects) must not be cut. Screenshots go to ``artifacts/dashboard-<width>.png``.
SLOW (a few seconds): marked ``browser``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess, running_server
from tests.ux.browser import chromium_or_skip
from tests.ux.cdp import Page, browser_page

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (800, 1024, 1400)
HEIGHT = 900

# Everything wider than the window, for the failure message (the culprits, not just a number).
MEASURE = """(() => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5)
    .slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
  return { inner: width, scroll: document.documentElement.scrollWidth, wide };
})()"""

# Elements whose text is cut (their content is wider than their box).
CUT = """((selector) => [...document.querySelectorAll(selector)]
  .filter((el) => el.scrollWidth > el.clientWidth)
  .map((el) => el.textContent.trim()))"""


def _order(
    http: httpx.Client, product: dict[str, Any], quantity: int, token: str
) -> None:
    response = http.post(
        "/orders",
        json={
            "user_id": 7,
            "email": "grace@example.com",
            "items": [
                {
                    "product_id": product["product_id"],
                    "quantity": quantity,
                    "price": product["price"],
                }
            ],
            "payment_token": token,
        },
    )
    assert response.status_code == 202, response.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    chromium_or_skip()
    with (
        running_server(
            tmp_path_factory.mktemp("dashboard-widths"), env={"BCRYPT_ROUNDS": "4"}
        ) as running,
        httpx.Client(base_url=running.base_url, timeout=5) as http,
    ):
        products = http.get("/products").json()
        _order(http, products[0], 1, "tok_visa")
        _order(http, products[0], 1, "tok_declined")
        # The longest subjects: a sold-out order ("... could not be fulfilled; ... refunded").
        scarce = min(products, key=lambda p: p["available"])
        _order(http, scarce, scarce["available"] + 1, "tok_visa")
        registered = http.post(
            "/register",
            json={
                "email": "ada.lovelace@example.com",
                "name": "Ada",
                "password": "correct horse battery",
            },
        )
        assert registered.status_code == 201, registered.text
        yield running


@pytest.fixture(scope="module")
def page(server: ServerProcess) -> Iterator[Page]:
    with browser_page(window=(WIDTHS[-1], HEIGHT)) as tab:
        tab.open(f"{server.base_url}/")
        tab.wait_for("document.getElementById('status').className === 'live'")
        # four e-mails: confirmed, payment failed, not fulfilled, verify your e-mail
        tab.wait_for("document.querySelectorAll('#outbox details').length >= 4")
        tab.wait_for("document.querySelectorAll('#product option[value]').length > 1")
        yield tab


def at_width(page: Page, width: int) -> None:
    """Resize the viewport and wait until the page has laid itself out again."""
    page.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=HEIGHT,
        deviceScaleFactor=1,
        mobile=False,
    )
    page.wait_for(f"window.innerWidth === {width}")
    page.evaluate(
        "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
    )


def screenshot(page: Page, width: int) -> Path:
    shot = ROOT / "artifacts" / f"dashboard-{width}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    data = page.call("Page.captureScreenshot", format="png")["data"]
    shot.write_bytes(base64.b64decode(data))
    return shot


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_scrolls_sideways(page: Page, width: int) -> None:
    at_width(page, width)
    measured = page.evaluate(MEASURE)
    assert measured["scroll"] <= measured["inner"], json.dumps(measured)
    assert screenshot(page, width).stat().st_size > 10_000


@pytest.mark.parametrize("width", WIDTHS)
def test_product_names_and_email_subjects_are_not_cut(page: Page, width: int) -> None:
    at_width(page, width)
    assert page.evaluate(f"{CUT}('#product')") == []
    assert page.evaluate(f"{CUT}('#outbox .subject')") == []
    subjects = page.evaluate(
        "[...document.querySelectorAll('#outbox .subject')].map((el) => el.textContent)"
    )
    assert any("could not be fulfilled" in subject for subject in subjects), subjects


def test_a_task_with_nothing_to_do_reads_skipped(page: Page) -> None:
    # The sold-out order's warehouse task: succeeded, delivered nothing.
    badge = page.wait_for(
        'document.querySelector(\'[data-task="orders.notify_warehouse"]'
        '[data-state="skipped"] .badge\')?.textContent'
    )
    assert "skipped" in badge
