"""Last resort against a hung run: past a test's ceiling plus a grace, print and exit.

pytest-timeout (signal method, ``timeout`` in pyproject.toml) fails a test that overruns its
ceiling, and the run goes on to its summary. The signal cannot help when the test's cleanup
then blocks for good (an event loop that, closing, waits for a worker thread stuck on a lock)
or when an asyncio task swallows the exception it raised. This plugin (loaded with
``-p tests.hang_backstop``) ends the process instead, with the test's id and every thread's
stack, so a run ends with an error rather than waiting for CI's own limit.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Iterator

import pytest

GRACE_S = 30.0
EXIT_CODE = 1  # as for failed tests (the run is not a success)
_EXIT_STATUS = pytest.StashKey[int]()


def ceiling_s(item: pytest.Item) -> float:
    """The test's pytest-timeout ceiling: its marker, else --timeout, else the ini (0: none)."""
    marker = item.get_closest_marker("timeout")
    if marker is not None:
        value = marker.kwargs.get("timeout", marker.args[0] if marker.args else None)
        if value is not None:
            return float(value)
    option = item.config.getoption("timeout", None)
    if option is not None:
        return float(option)
    return float(item.config.getini("timeout") or 0)


def _give_up(config: pytest.Config, what: str, exit_code: int) -> None:
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=True)
    stream = sys.__stderr__ or sys.stderr
    try:
        stream.write(f"\n+++ hang backstop: {what}. Every thread's stack: +++\n")
        me = threading.get_ident()
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident != me:
                stream.write(f"\n--- thread {names.get(ident, ident)} ---\n")
                stream.write("".join(traceback.format_stack(frame)))
        stream.flush()
    finally:
        os._exit(exit_code)


def _timer(
    after_s: float, config: pytest.Config, what: str, code: int
) -> threading.Timer:
    timer = threading.Timer(after_s, _give_up, args=(config, what, code))
    timer.daemon = True  # runs while the interpreter waits for other threads at exit
    timer.name = "hang-backstop"
    timer.start()
    return timer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    ceiling = ceiling_s(item)
    timer = None
    if ceiling > 0:
        after_s = ceiling + GRACE_S
        what = (
            f"{item.nodeid} still running {after_s:.0f} s after it started"
            " (its ceiling + grace): the timeout did not end it"
        )
        timer = _timer(after_s, item.config, what, EXIT_CODE)
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    # A thread that never ends (a worker stuck on a lock, left by a test that timed out)
    # keeps the interpreter from exiting after the summary.
    status = config.stash.get(_EXIT_STATUS, EXIT_CODE)
    what = f"the run ended but the process did not exit {GRACE_S:.0f} s later"
    _timer(GRACE_S, config, what, status or EXIT_CODE)
