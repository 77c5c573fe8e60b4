"""``fastapi-tasks-demo walkthrough`` against the real server: the tutorial cannot rot.

Every step of docs/tutorial.md is performed over HTTP by the command a user runs, and every
expectation must PASS; a second run on the same (now used) server must pass too.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.e2e.server import ROOT, ServerProcess, running_server
from walkthrough import STEPS
from walkthrough.users import PASSWORD

pytestmark = pytest.mark.e2e

# Short delays so the whole tutorial runs in a few seconds (the walkthrough itself uses
# deadlines generous enough for the defaults).
SERVER_ENV = {
    "BCRYPT_ROUNDS": "4",
    "EMAIL_RETRY_DELAY_S": "0.05",
    "ANALYTICS_FLUSH_INTERVAL_S": "1.0",
}
RUN_DEADLINE_S = 90.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("walkthrough-e2e"), env=SERVER_ENV
    ) as running:
        yield running


def walkthrough(url: str) -> subprocess.CompletedProcess[str]:
    """Run the console command as a user would (``python -m app.cli walkthrough``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "walkthrough", "--url", url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE_S,
        check=False,
    )


def assert_every_step_passed(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    total = len(STEPS)
    headers = re.findall(r"^\[(\d+)/(\d+)\] (.+)$", output, re.MULTILINE)
    assert headers == [
        (str(number), str(total), step.title)
        for number, step in enumerate(STEPS, start=1)
    ]
    verdicts = re.findall(r"^\s+(PASS|FAIL)  ", output, re.MULTILINE)
    assert verdicts, output
    assert set(verdicts) == {"PASS"}, output
    assert f"{total}/{total} steps passed" in output
    assert ", 0 failed." in output


def test_walkthrough_passes_every_step(server: ServerProcess) -> None:
    result = walkthrough(server.base_url)
    assert_every_step_passed(result)
    # No secret reaches the output: not the password, not a verification token.
    outbox = httpx.get(f"{server.base_url}/demo/outbox", timeout=5.0).json()
    tokens = [
        parse_qs(urlsplit(mail["data"]["verification_url"]).query)["token"][0]
        for mail in outbox
        if mail["template"] == "email_verification"
    ]
    assert tokens
    for secret in [PASSWORD, *tokens]:
        assert secret not in result.stdout + result.stderr
    # And the faults are left as found: all off.
    faults = httpx.get(f"{server.base_url}/demo/faults", timeout=5.0).json()
    assert set(faults.values()) == {"ok"}


def test_walkthrough_passes_again_on_a_used_server(server: ServerProcess) -> None:
    # Fresh addresses and user ids, no assumed ids: a second run is as good as the first.
    assert_every_step_passed(walkthrough(server.base_url))
