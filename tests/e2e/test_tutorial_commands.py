"""docs/tutorial.md pasted into a shell, against a real server on a port that is not 8000.

A reader changes the one ``BASE=`` line and pastes every ``bash`` block in order, in one shell
(the helpers and variables such as ``$ORDER_ID`` carry over). Here that shell runs with
``set -eu`` and watches ``curl``: a command that cannot reach the server, a helper that finds
no field, or an unset variable fails the step, and the test shows its output. Where the page says "a moment later"
or "wait", the test waits for what the reader waits for: until no task is pending or running
(after the analytics flush interval, where the page says to wait).

The outputs themselves are checked by the walkthrough (tests/e2e/test_walkthrough.py); this
checks that the commands as written work on any port.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import ROOT, running_server

pytestmark = pytest.mark.e2e

TUTORIAL = ROOT / "docs" / "tutorial.md"
DEFAULT_BASE = "http://127.0.0.1:8000"
FLUSH_INTERVAL_S = 0.5
SERVER_ENV = {
    "BCRYPT_ROUNDS": "4",
    "EMAIL_RETRY_DELAY_S": "0.05",
    "ANALYTICS_FLUSH_INTERVAL_S": str(FLUSH_INTERVAL_S),
}
BLOCK_DEADLINE_S = 20.0
SETTLE_DEADLINE_S = 10.0
# No pipefail: `... | head -7` ends the writer early, which a reader's shell ignores too.
# Instead each curl that could not talk to the server (exit 6, 7, 28, 52, 56...) is noted
# here and fails the block; 23 is the write error of a pipe closed early by head.
CURL_WATCH = """
curl() {
  local status=0
  command curl "$@" || status=$?
  case $status in
    0|23) return 0 ;;
    *) echo "curl exited $status: curl $*" >&2; return "$status" ;;
  esac
}
"""
CURL_FAILED = re.compile(r"^curl exited \d+: .*$", re.MULTILINE)
BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
STEP = re.compile(r"^## Step (\d+): ", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    code: str
    waits: bool  # the prose before it tells the reader to wait


def blocks_of(text: str) -> list[Block]:
    out, previous_end = [], 0
    for match in BASH_BLOCK.finditer(text):
        prose = text[previous_end : match.start()]
        out.append(Block(match.group(1), waits=bool(re.search(r"\bWait\b", prose))))
        previous_end = match.end()
    return out


def sections(base: str) -> list[list[Block]]:
    """The bash blocks before step 1 (server address, helpers), then each step's, with
    the page's one ``BASE=`` line pointed at ``base``."""
    text = TUTORIAL.read_text(encoding="utf-8")
    assigned = re.findall(r"^BASE=(\S+)$", text, re.MULTILINE)
    assert assigned == [DEFAULT_BASE], "one BASE=... line, at the top of the page"
    text = text.replace(f"BASE={DEFAULT_BASE}\n", f"BASE={base}\n")
    starts = [m.start() for m in STEP.finditer(text)]
    bounds = [0, *starts, len(text)]
    parts = [text[a:b] for a, b in pairwise(bounds)]
    # What follows the last step (the walkthrough, further reading) runs nothing.
    parts[-1] = parts[-1].split("\n## ", 1)[0]
    return [blocks_of(part) for part in parts]


@dataclass
class Shell:
    """One ``bash`` a reader pastes into: state carries over, any failure ends it."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    completed_steps: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def run(self, code: str, scripts: Path) -> str:
        """Source ``code`` (stdin closed, so nothing pasted after it is read as input)."""
        script = scripts / f"{uuid.uuid4().hex}.sh"
        script.write_text(code, encoding="utf-8")
        marker = f"--- done {script.stem} ---"
        assert self.process.stdin is not None
        self.process.stdin.write(f"source {script} </dev/null\necho '{marker}'\n")
        self.process.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + BLOCK_DEADLINE_S
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(
                    f"still running after {BLOCK_DEADLINE_S} s:\n{code}\n"
                    + "\n".join(output)
                )
            if line is None:
                status = self.process.wait(timeout=5)
                pytest.fail(
                    f"the shell stopped (exit {status}) in:\n{code}\n--- output ---\n"
                    + "\n".join(output)
                )
            if line == marker:
                return "\n".join(output)
            output.append(line)


def settle(base: str, *, waited: bool) -> None:
    """What the reader waits for before the next block: every task has finished."""
    if waited:
        # The page says to wait for a timer (retries, the analytics flush): its interval first.
        time.sleep(FLUSH_INTERVAL_S)  # the timer's own interval, then polling below
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    while True:
        tasks = httpx.get(f"{base}/demo/tasks", timeout=5.0).json()
        busy = [t["name"] for t in tasks if t["state"] in ("pending", "running")]
        if not busy:
            return
        assert time.monotonic() < deadline, f"tasks still running: {busy}"
        time.sleep(0.05)  # polling with a deadline


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(
        tmp_path_factory.mktemp("tutorial-commands"), env=SERVER_ENV
    ) as server:
        assert not server.base_url.endswith(":8000")
        yield server.base_url


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tutorial-blocks")


@pytest.fixture(scope="module")
def shell(server_url: str, scripts: Path) -> Iterator[Shell]:
    env = {k: v for k, v in os.environ.items() if k not in ("BASE", "WORK")}
    process = subprocess.Popen(
        ["bash", "--noprofile", "--norc"],
        cwd=ROOT,  # "in a second terminal, in the repository"
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    shell = Shell(process)
    shell.run(f"set -eu\n{CURL_WATCH}", scripts)
    for block in sections(server_url)[0]:
        shell.run(block.code, scripts)
    yield shell
    assert process.stdin is not None
    assert process.stdout is not None
    if process.poll() is None:
        # Step 10's temporary directory, as the reader would remove it.
        process.stdin.write('rm -rf "${WORK:-/nonexistent}"\nexit 0\n')
        process.stdin.flush()
        process.wait(timeout=10)
    process.stdin.close()
    process.stdout.close()


STEP_COUNT = len(STEP.findall(TUTORIAL.read_text(encoding="utf-8")))


@pytest.mark.parametrize("number", range(1, STEP_COUNT + 1), ids=lambda n: f"step{n}")
def test_each_step_works_as_pasted_on_a_non_default_port(
    number: int, shell: Shell, server_url: str, scripts: Path
) -> None:
    if number - 1 not in shell.completed_steps | {0}:
        pytest.skip(f"needs step {number - 1}'s variables (run the steps in order)")
    leftovers = {name: (ROOT / name).exists() for name in ("demo.png", "thumbnail.jpg")}
    for block in sections(server_url)[number]:
        settle(server_url, waited=block.waits)
        output = shell.run(block.code, scripts)
        assert not CURL_FAILED.search(output), output
        assert "Traceback" not in output, output
    # Nothing the steps write lands in the repository (step 10 uses a temporary directory).
    assert {n: (ROOT / n).exists() for n in leftovers} == leftovers
    shell.completed_steps.add(number)


def test_no_command_hard_codes_the_default_address() -> None:
    for blocks in sections("http://127.0.0.1:8765"):
        for block in blocks:
            assert "127.0.0.1:8000" not in block.code, block.code


def test_make_walkthrough_runs_the_walkthrough_against_base() -> None:
    # What the tutorial's last section tells the reader to run.
    done = subprocess.run(
        ["make", "-n", "walkthrough", "BASE=http://127.0.0.1:8765"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "fastapi-tasks-demo walkthrough --url http://127.0.0.1:8765" in done.stdout


def test_port_8765_make_demo_serves_on_8765() -> None:
    # "Port 8000 taken? PORT=8765 make demo": make reads PORT from the environment.
    done = subprocess.run(
        ["make", "-n", "demo"],
        cwd=ROOT,
        env={**os.environ, "PORT": "8765"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "serve --host 127.0.0.1 --port 8765" in done.stdout
