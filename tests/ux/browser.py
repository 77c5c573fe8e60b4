"""Headless Chromium from the command line, for the browser tests.

One call loads a page with a virtual-time budget (timers such as the dashboard's poll loop
run, and virtual time stands still while requests are in flight), then dumps the DOM and
optionally takes a screenshot. A network log records every request the browser made, so a
test can prove the page asked nothing of any host but the test server.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--disable-features=AutofillServerCommunication,MediaRouter,OptimizationHints",
    # No name lookups for anything but the loopback address: nothing can leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def chromium_or_skip() -> str:
    """The Chromium binary; skip when absent, except in CI (``CI`` set), where that fails."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(
            "chromium is not installed, and CI is set: .ci/run should have installed it"
        )
    pytest.skip(
        "chromium is not installed (apt-get install -y chromium); "
        "browser tests run in CI, where .ci/run installs it"
    )


@dataclass(frozen=True)
class PageLoad:
    dom: str
    """The DOM after the virtual-time budget, serialised as HTML."""
    page_requests: list[str]
    """URLs the page itself asked for (documents, scripts, styles, images, fetches)."""
    browser_requests: list[str]
    """URLs Chromium asked for on its own account (updates, sign-in), not the page's."""


def load(
    url: str,
    *,
    budget_ms: int = 5000,
    screenshot: Path | None = None,
    window: tuple[int, int] = (1280, 800),
    timeout_s: float = 30,
) -> PageLoad:
    """Open ``url`` in a fresh profile, let virtual time run, return the DOM and requests."""
    binary = chromium_or_skip()
    with tempfile.TemporaryDirectory(
        prefix="ux-chromium-", ignore_cleanup_errors=True
    ) as tmp:
        netlog = Path(tmp) / "netlog.json"
        args = [
            binary,
            *FLAGS,
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--window-size={window[0]},{window[1]}",
            f"--virtual-time-budget={budget_ms}",
            f"--log-net-log={netlog}",
            "--dump-dom",
        ]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            args.append(f"--screenshot={screenshot}")
        done = subprocess.run(
            [*args, url], capture_output=True, text=True, timeout=timeout_s, check=False
        )
        assert done.returncode == 0, (
            f"chromium exited {done.returncode}: {done.stderr[-2000:]}"
        )
        page, browser = _requests(netlog, url)
    return PageLoad(dom=done.stdout, page_requests=page, browser_requests=browser)


def _requests(netlog: Path, page_url: str) -> tuple[list[str], list[str]]:
    """Split the URL requests of a net log into the page's and the browser's own.

    The page's own requests are its navigation (``main frame``) and whatever it asked for
    itself (initiator: the page's origin, whatever the target host). Chromium's own requests
    (component updates, account checks, autofill) carry no origin as initiator.
    """
    data = json.loads(netlog.read_text(encoding="utf-8"))
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    site = "{0.scheme}://{0.hostname}".format(urlsplit(page_url))
    page: list[str] = []
    browser: list[str] = []
    for event in data["events"]:
        params = event.get("params") or {}
        if event.get("type") != start_job or "url" not in params:
            continue
        initiator = str(params.get("initiator", ""))
        mine = params.get("request_type") == "main frame" or initiator.startswith(site)
        (page if mine else browser).append(str(params["url"]))
    return page, browser


def foreign(urls: list[str], allowed_host: str = "127.0.0.1") -> list[str]:
    """The URLs among ``urls`` that go to any host but ``allowed_host`` (data: URLs are local)."""
    return [
        u
        for u in urls
        if urlsplit(u).scheme in {"http", "https", "ws", "wss"}
        and urlsplit(u).hostname != allowed_host
    ]


_VERDICT = re.compile(r'<body data-verdict="([^"]*)"')


def script_syntax_error(script: str, workdir: Path) -> str | None:
    """Compile ``script`` in Chromium without running it: None, or the error it raises.

    ``new Function(source)`` parses the whole text as a function body (what a syntax
    check needs) and runs nothing, so no other tool (node) is needed for the check.
    """
    source = json.dumps(script).replace("</", "<\\/")  # cannot close the <script>
    checker = workdir / "syntax-check.html"
    checker.write_text(
        "<!doctype html><html><body><script>\n"
        f"const source = {source};\n"
        "let verdict = 'ok';\n"
        "try { new Function(source); } catch (e) { verdict = e.name + ': ' + e.message; }\n"
        "document.body.setAttribute('data-verdict', verdict);\n"
        "</script></body></html>\n",
        encoding="utf-8",
    )
    found = _VERDICT.search(load(checker.as_uri(), budget_ms=500).dom)
    assert found is not None, "the syntax check page did not run"
    verdict = html.unescape(found.group(1))
    return None if verdict == "ok" else verdict
