"""A private Docker engine for one test run: Debian's ``dockerd``, started as root.

Its state (images, containers, volumes), its runtime files and its socket all live under one
temporary directory, removed at the end; it never touches a system engine. ``--bridge=none
--iptables=false``: no bridge network and no firewall rules, so containers run with
``--network host`` and all traffic stays on the loopback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 30.0


class EngineUnavailableError(Exception):
    """The engine cannot run here (not root, no ``dockerd``, or it did not start)."""


@dataclass(frozen=True)
class Engine:
    """A running ``dockerd`` and the CLI environment that talks to it."""

    root: Path
    cli: str
    env: dict[str, str]

    def run(
        self,
        *args: str,
        timeout: float = 60.0,
        check: bool = True,
        stdin: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS`` against this engine; raises with its output when it fails."""
        with Path(stdin or os.devnull).open("rb") as feed:
            done = subprocess.run(
                [self.cli, *args],
                env=self.env,
                stdin=feed,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        result = subprocess.CompletedProcess(
            done.args,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def inspect(self, what: str, template: str) -> str:
        """``docker inspect -f TEMPLATE WHAT``, stripped."""
        return self.run("inspect", "-f", template, what).stdout.strip()


def _client() -> str | None:
    # The CLI shipped with dockerd speaks its API version; any other one negotiates down.
    for candidate in ("/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def unmount_below(root: Path) -> None:
    """Unmount whatever the engine left mounted under ``root`` (deepest first)."""
    mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    points = [line.split()[1] for line in mounts]
    for point in sorted(
        (p for p in points if Path(p).is_relative_to(root)), key=len, reverse=True
    ):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(
            signal.SIGTERM
        )  # dockerd stops its containers, then containerd
        try:
            process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # containerd and its shims were started in dockerd's session: nothing may outlive the run.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _wait_until_ready(
    engine: Engine, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise EngineUnavailableError(
                f"dockerd exited {process.returncode} at start:\n{tail}"
            )
        if engine.run("version", check=False, timeout=10).returncode == 0:
            return
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise EngineUnavailableError(
                f"dockerd did not answer within {START_DEADLINE_S:.0f} s:\n{tail}"
            )
        time.sleep(0.2)  # polling the socket with a deadline


@contextmanager
def private_engine() -> Iterator[Engine]:
    """Start ``dockerd`` under a fresh temporary directory; stop it and remove it all after."""
    if os.geteuid() != 0:
        raise EngineUnavailableError("dockerd must run as root, and this is not root")
    dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin")
    cli = _client()
    if not dockerd or not cli:
        raise EngineUnavailableError(
            "no dockerd/docker: install Debian's docker.io (.ci/run does)"
        )
    # Short path: containerd's socket lives under --exec-root and must fit in 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="ftd-docker-", dir="/tmp"))
    socket = root / "docker.sock"
    log = root / "dockerd.log"
    env = {
        **os.environ,
        "DOCKER_HOST": f"unix://{socket}",
        "DOCKER_CONFIG": str(root / "cli"),  # not the user's ~/.docker
        "DOCKER_BUILDKIT": "0",  # the classic builder: RUN steps honour --network host
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                dockerd,
                f"--data-root={root / 'data'}",
                f"--exec-root={root / 'exec'}",
                f"--pidfile={root / 'dockerd.pid'}",
                f"--host=unix://{socket}",
                "--bridge=none",
                "--iptables=false",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    engine = Engine(root=root, cli=cli, env=env)
    try:
        _wait_until_ready(engine, process, log)
        yield engine
    finally:
        _stop(process)
        unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)
