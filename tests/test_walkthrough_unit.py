"""The walkthrough's own behaviour: tutorial ⇔ steps, exit codes 0 / 1 / 2.

The full run against a real server is tests/e2e/test_walkthrough.py.
"""

import io
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.cli import main
from app.mocks import payment_gateway
from tests.e2e.server import free_port
from walkthrough import (
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_UNREACHABLE,
    STEPS,
    Endpoint,
    Step,
    base_url,
    run_walkthrough,
    timing,
)
from walkthrough.runner import StepContext, WalkthroughBugError

pytestmark = pytest.mark.anyio

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
BASE = "http://127.0.0.1:8000"
HEADING = re.compile(r"^## Step (\d+): (.+)$", re.MULTILINE)
CODE_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Every tutorial command addresses the server as $BASE (set once at the top of the page).
URL = re.compile(r"\$\{?BASE\}?" + r"(/[^\s'\"?);|]*)?")
# The first steps are self-contained: service check, dashboard, catalogue, two orders.
ORDER_STEPS = 5


# -- the tutorial and the steps are one story --------------------------------------------
def tutorial_sections() -> list[tuple[int, str, str]]:
    """(number, title, text) of each ``## Step N: title`` section of docs/tutorial.md."""
    text = TUTORIAL.read_text(encoding="utf-8")
    matches = list(HEADING.finditer(text))
    sections = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        # A later "## " heading (not a step) ends the section too.
        body = body.split("\n## ", 1)[0]
        sections.append((int(match.group(1)), match.group(2).strip(), body))
    return sections


def curl_calls(section: str) -> list[tuple[str, str]]:
    """(method, path) of every ``curl`` in the section's bash blocks."""
    calls = []
    for block in CODE_BLOCK.findall(section):
        joined = re.sub(r"\\\n", " ", block)
        for line in joined.splitlines():
            for command in re.split(r"(?<![\w-])curl\s", line)[1:]:
                url = URL.search(command)
                assert url, f"a curl without $BASE: {command!r}"
                method = re.search(r"-X\s+([A-Z]+)", command)
                if method:
                    verb = method.group(1)
                elif re.search(r"\s(-d|--data\S*|-F|--form)\s", f" {command} "):
                    verb = "POST"
                else:
                    verb = "GET"
                calls.append((verb, url.group(1) or "/"))
    return calls


def endpoints_of(calls: Sequence[tuple[str, str]], step: Step) -> set[Endpoint]:
    """Which declared endpoint each call is; a call matching none fails the test."""
    found = set()
    for method, path in calls:
        # Shell variables ($ORDER_ID, ${TOKEN}) stand for one path segment.
        concrete = re.sub(r"\$\{?\w+\}?", "1", path)
        matching = [e for e in step.endpoints if e.matches(method, concrete)]
        assert matching, f"{step.title!r}: the tutorial calls {method} {path}"
        found.update(matching)
    return found


def test_tutorial_has_one_section_per_step_with_the_same_titles() -> None:
    sections = tutorial_sections()
    assert [(number, title) for number, title, _ in sections] == [
        (number, step.title) for number, step in enumerate(STEPS, start=1)
    ]


@pytest.mark.parametrize("index", range(len(STEPS)), ids=lambda i: f"step{i + 1}")
def test_tutorial_section_curls_exactly_the_steps_endpoints(index: int) -> None:
    step = STEPS[index]
    _, _, section = tutorial_sections()[index]
    calls = curl_calls(section)
    assert calls, f"no curl in the tutorial's section for {step.title!r}"
    assert endpoints_of(calls, step) == set(step.endpoints)


def test_endpoint_templates_match_concrete_paths() -> None:
    order = Endpoint.parse("GET /orders/{order_id}")
    cdn = Endpoint.parse("GET /demo/cdn/{path:path}")
    assert order.matches("GET", "/orders/17")
    assert not order.matches("GET", "/orders/17/x")
    assert not order.matches("POST", "/orders/17")
    assert cdn.matches("GET", "/demo/cdn/images/1/2/thumbnail.jpg")
    assert order.format({"order_id": 5}) == "/orders/5"


# -- exit codes ---------------------------------------------------------------------------
async def test_unreachable_server_exits_2_with_a_clear_message() -> None:
    out = io.StringIO()
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert await run_walkthrough(url, out=out) == EXIT_UNREACHABLE
    assert f"cannot reach the demo service at {url}" in out.getvalue()
    assert "make demo" in out.getvalue()


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("localhost:8000/", "http://localhost:8000"),
        ("https://demo.example:9000/", "https://demo.example:9000"),
        (" http://127.0.0.1:8000 ", "http://127.0.0.1:8000"),
    ],
)
def test_base_url_assumes_http_when_no_scheme_is_given(typed: str, url: str) -> None:
    assert base_url(typed) == url


@pytest.mark.parametrize("typed", ["ftp://127.0.0.1:21", "http://", ":8000"])
def test_base_url_says_what_is_missing(typed: str) -> None:
    with pytest.raises(ValueError, match=r"http\(s\) URL with a host|not a URL"):
        base_url(typed)


async def test_a_url_without_scheme_reaches_the_server_over_http() -> None:
    out = io.StringIO()
    port = free_port()  # nothing listens there: the message shows the URL it tried
    assert await run_walkthrough(f"127.0.0.1:{port}", out=out) == EXIT_UNREACHABLE
    assert f"cannot reach the demo service at http://127.0.0.1:{port}" in out.getvalue()
    assert "UnsupportedProtocol" not in out.getvalue()


def test_the_command_rejects_a_url_it_cannot_use(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["walkthrough", "--url", "ftp://127.0.0.1:21"])
    assert exited.value.code == 2
    assert "http(s) URL with a host" in capsys.readouterr().err


async def test_a_server_without_the_demo_extras_exits_2() -> None:
    def live_mode(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(404, json={"detail": "Not Found"})

    out = io.StringIO()
    code = await run_walkthrough(
        BASE, out=out, transport=httpx.MockTransport(live_mode)
    )
    assert code == EXIT_UNREACHABLE
    assert "mock mode" in out.getvalue()


async def test_a_step_calling_an_undeclared_endpoint_is_a_bug() -> None:
    async def sneaky(ctx: StepContext) -> None:
        await ctx.call("GET", "/users/{user_id}", path_params={"user_id": 1})

    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "ok"})

    step = Step("Sneaky", (Endpoint.parse("GET /health"),), sneaky)
    with pytest.raises(WalkthroughBugError, match="does not declare"):
        await run_walkthrough(
            BASE, steps=[step], out=io.StringIO(), transport=httpx.MockTransport(ok)
        )


@pytest.fixture
async def in_process(app: FastAPI) -> AsyncIterator[httpx.ASGITransport]:
    """A transport to the app in-process (lifespan running), like the server's."""
    async with LifespanManager(app) as manager:
        yield httpx.ASGITransport(app=manager.app)


async def run_order_steps(transport: httpx.ASGITransport) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_walkthrough(
        "http://test", steps=STEPS[:ORDER_STEPS], out=out, transport=transport
    )
    return code, out.getvalue()


async def test_order_steps_pass_against_the_app(
    in_process: httpx.ASGITransport,
) -> None:
    code, output = await run_order_steps(in_process)
    assert code == EXIT_OK, output
    assert "FAIL" not in output
    assert f"[{ORDER_STEPS}/{ORDER_STEPS}] Declined card" in output


async def test_a_server_that_breaks_the_tutorial_exits_1(
    in_process: httpx.ASGITransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake gateway now declines the approved card and approves the "declined" one.
    monkeypatch.setattr(payment_gateway, "DECLINED_TOKEN", "tok_visa")
    # What never comes (the alert for the "declined" order) is waited for this long.
    monkeypatch.setattr(timing, "SETTLE_DEADLINE_S", 0.5)
    code, output = await run_order_steps(in_process)
    assert code == EXIT_MISMATCH, output
    failures = [line for line in output.splitlines() if line.strip().startswith("FAIL")]
    assert any("status=confirmed" in line for line in failures), output
    assert any("status=payment_failed" in line for line in failures), output
    assert "FAILED steps: 4, 5" in output
