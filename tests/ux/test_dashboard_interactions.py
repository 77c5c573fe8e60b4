"""The dashboard's buttons and forms work in a real browser against the real server.

Headless Chromium is driven over the DevTools protocol (tests/ux/cdp.py): click a fault
switch and see the server's faults change; place an order, register a user, track events
and upload a generated image from the forms, and watch the resulting tasks appear in the
timeline; the order form says when a payment fault overrides the card; the outbox's
"verify" action opens the verification page, whose button verifies the address. SLOW (a few seconds): marked ``browser``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import ServerProcess, running_server
from tests.ux.browser import chromium_or_skip
from tests.ux.cdp import Page, browser_page

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

RESULT = "document.getElementById('result').textContent"


def task_shown(name: str) -> str:
    return f"!!document.querySelector('[data-task=\"{name}\"]')"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    chromium_or_skip()
    with running_server(
        tmp_path_factory.mktemp("dashboard-ui"), env={"BCRYPT_ROUNDS": "4"}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Iterator[Page]:
    with browser_page() as tab:
        yield tab


@pytest.fixture
def page(browser: Page, server: ServerProcess) -> Page:
    """The dashboard, freshly loaded, polling and with its product list filled in."""
    browser.open(f"{server.base_url}/")
    browser.wait_for("document.getElementById('status').className === 'live'")
    browser.wait_for(
        "document.querySelectorAll('#product option[value]:not([value=\"\"])').length > 0"
    )
    return browser


def test_fault_switch_buttons_change_the_servers_faults(
    page: Page, server: ServerProcess
) -> None:
    page.click('button[data-service="payment"][data-value="decline"]')
    page.wait_for(
        'document.querySelector(\'button[data-service="payment"][data-value="decline"]\')'
        ".getAttribute('aria-pressed') === 'true'"
    )
    assert httpx.get(f"{server.base_url}/demo/faults").json()["payment"] == "decline"

    page.click('button[data-service="payment"][data-value="ok"]')
    page.wait_for(f"{RESULT}.includes('payment → ok: 200')")
    assert httpx.get(f"{server.base_url}/demo/faults").json()["payment"] == "ok"


def test_order_form_places_an_order_whose_tasks_appear(
    page: Page, server: ServerProcess
) -> None:
    page.click("#order-form button[type=submit]")
    result = page.wait_for(f"{RESULT}.startsWith('POST /orders: 202') && {RESULT}")
    assert '"status":"processing"' in result
    page.wait_for(task_shown("orders.charge_payment"))
    page.wait_for(
        '!!document.querySelector(\'[data-mode="after_response"] '
        '[data-task="orders.send_order_email"][data-state="succeeded"]\')'
    )
    # the confirmation e-mail reached the outbox panel
    page.wait_for("document.getElementById('outbox').textContent.includes('confirmed')")


def test_register_track_and_upload_forms(page: Page) -> None:
    page.click("#tab-register")
    assert page.evaluate("document.getElementById('register-form').hidden") is False
    assert page.evaluate("document.getElementById('order-form').hidden") is True
    page.click("#register-form button[type=submit]")
    page.wait_for(f"{RESULT}.startsWith('POST /register: 201')")
    page.wait_for(task_shown("users.send_verification_email"))

    page.click("#tab-track")
    page.click("#track-batch")
    page.wait_for(f"{RESULT}.startsWith('POST /track \u00d710: 202')", timeout_s=15)

    page.click("#tab-image")
    page.click("#image-form button[type=submit]")
    page.wait_for(f"{RESULT}.startsWith('POST /upload-image: 202')")
    page.wait_for(
        "[...document.querySelectorAll('[data-mode=\"immediate\"] [data-task]')]"
        ".some((el) => el.dataset.task.startsWith('images.'))"
    )


OVERRIDE = "document.getElementById('order-override')"


def test_order_form_says_when_a_payment_fault_overrides_the_card(
    page: Page, server: ServerProcess
) -> None:
    assert page.evaluate(f"{OVERRIDE}.hidden") is True
    page.click('button[data-service="payment"][data-value="decline"]')
    try:
        note = page.wait_for(f"!{OVERRIDE}.hidden && {OVERRIDE}.textContent")
        assert "payment = decline overrides the chosen card (tok_visa)" in note
        page.click('button[data-service="payment"][data-value="slow"]')
        note = page.wait_for(
            f"{OVERRIDE}.textContent.includes('slow') && {OVERRIDE}.textContent"
        )
        assert "the card (tok_visa) still decides" in note
    finally:
        httpx.put(f"{server.base_url}/demo/faults", json={"payment": "ok"})
    page.click('button[data-service="payment"][data-value="ok"]')
    page.wait_for(f"{OVERRIDE}.hidden")


def test_outbox_verify_action_opens_the_verification_page(
    page: Page, server: ServerProcess
) -> None:
    page.click("#tab-register")
    email = page.evaluate(
        "document.getElementById('register-form').elements.email.value"
    )
    page.click("#register-form button[type=submit]")
    result = page.wait_for(f"{RESULT}.startsWith('POST /register: 201') && {RESULT}")
    user_id = int(json.loads(result.split(": 201 ", 1)[1])["user_id"])
    link = page.wait_for(
        "[...document.querySelectorAll('#outbox details')]"
        f".filter((d) => d.textContent.includes({email!r}))"
        ".map((d) => d.querySelector('a.verify')).find(Boolean)?.getAttribute('href')"
    )
    assert link.startswith("verify?token=")

    page.open(f"{server.base_url}/{link}")
    assert page.evaluate("document.title") == "Verify your e-mail"
    page.click("form button[type=submit]")
    # The button's POST navigates away: ask the API rather than a page being replaced.
    deadline = time.monotonic() + 10
    while not httpx.get(f"{server.base_url}/users/{user_id}").json()["verified"]:
        assert time.monotonic() < deadline, "the page's button did not verify the user"
        time.sleep(0.05)  # polling with a deadline
