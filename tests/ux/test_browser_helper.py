"""The browser helper: skip-or-fail policy and the net-log split of page vs browser requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ux.browser import _requests, chromium_or_skip, foreign, script_syntax_error


def test_missing_chromium_skips_outside_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        chromium_or_skip()


def test_missing_chromium_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        chromium_or_skip()


def test_net_log_split_and_foreign_hosts(tmp_path: Path) -> None:
    start = 7
    events = [
        {
            "type": start,
            "params": {
                "url": "http://127.0.0.1:9/docs",
                "request_type": "main frame",
                "initiator": "not an origin",
            },
        },
        {
            "type": start,
            "params": {
                "url": "http://127.0.0.1:9/a.js",
                "initiator": "http://127.0.0.1:9",
            },
        },
        {
            "type": start,
            "params": {
                "url": "https://cdn.invalid/x.svg",
                "initiator": "http://127.0.0.1:9",
            },
        },
        {
            "type": start,
            "params": {
                "url": "https://update.invalid/check",
                "initiator": "not an origin",
            },
        },
        {"type": 8, "params": {"url": "http://127.0.0.1:9/not-a-start-event"}},
    ]
    netlog = tmp_path / "netlog.json"
    netlog.write_text(
        json.dumps(
            {
                "constants": {"logEventTypes": {"URL_REQUEST_START_JOB": start}},
                "events": events,
            }
        ),
        encoding="utf-8",
    )
    page, browser = _requests(netlog, "http://127.0.0.1:9/docs")
    assert page == [
        "http://127.0.0.1:9/docs",
        "http://127.0.0.1:9/a.js",
        "https://cdn.invalid/x.svg",
    ]
    assert browser == ["https://update.invalid/check"]
    assert foreign(page) == ["https://cdn.invalid/x.svg"]
    assert foreign(["data:image/png;base64,AA==", "/relative"]) == []


def test_syntax_check_reports_the_error_and_runs_nothing(tmp_path: Path) -> None:
    assert script_syntax_error("const a = ;", tmp_path) == (
        "SyntaxError: Unexpected token ';'"
    )
    # valid, with a "</script>" in a string; running it would have thrown
    valid = "const closing = '</script>'; throw new Error(closing);"
    assert script_syntax_error(valid, tmp_path) is None
