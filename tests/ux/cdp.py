"""Drive headless Chromium over the DevTools protocol, to click the dashboard's buttons.

Only what the interaction test needs: open a page, evaluate JavaScript, wait (polling with a
deadline) until an expression is truthy. The websocket client is ``websockets``, which the
service already installs through ``uvicorn[standard]``; no browser download, no npm.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.ux.browser import FLAGS, chromium_or_skip

CALL_DEADLINE_S = 15.0


class Page:
    """One browser tab."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message_id = self._next_id
        self._ws.send(
            json.dumps({"id": message_id, "method": method, "params": params})
        )
        # Events arrive in between (skipped): the deadline is for the reply, not each message.
        deadline = time.monotonic() + CALL_DEADLINE_S
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"{method}: no reply within {CALL_DEADLINE_S} s"
            reply = json.loads(self._ws.recv(timeout=left))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout_s: float = 10) -> Any:
        """Poll until ``expression`` is truthy; fail with the page's visible text otherwise."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body.innerText")
                raise AssertionError(
                    f"timed out waiting for {expression}\n--- page ---\n{text}"
                )
            time.sleep(0.05)  # polling with a deadline

    def click(self, selector: str) -> None:
        found = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " if (!el) return false; el.click(); return true; })()"
        )
        assert found, f"nothing matches {selector}"

    def open(self, url: str) -> None:
        """Navigate and wait until the new document has loaded (not the previous one)."""
        self.evaluate("window.__leaving = true")
        self.call("Page.navigate", url=url)
        self.wait_for("!window.__leaving && document.readyState === 'complete'")


@contextmanager
def browser_page(window: tuple[int, int] = (1280, 800)) -> Iterator[Page]:
    """A fresh headless Chromium with one tab, closed afterwards."""
    binary = chromium_or_skip()
    # Chromium's helper processes may still be closing files when the directory goes.
    with tempfile.TemporaryDirectory(
        prefix="ux-cdp-", ignore_cleanup_errors=True
    ) as tmp:
        profile = Path(tmp) / "profile"
        process = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={window[0]},{window[1]}",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: renderers end with it
        )
        try:
            port_file = profile / "DevToolsActivePort"
            deadline = time.monotonic() + 15
            while not (port_file.is_file() and port_file.read_text().strip()):
                assert process.poll() is None, f"chromium exited {process.returncode}"
                assert time.monotonic() < deadline, (
                    "chromium did not open its debugging port"
                )
                time.sleep(0.05)  # polling with a deadline
            port = int(port_file.read_text().split()[0])
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            target = next(t for t in targets if t.get("type") == "page")
            with connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
                yield Page(ws)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the Chromium this module started, and its helper processes (same group)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
