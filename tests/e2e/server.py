"""Run the real service (``fastapi-tasks-demo serve``) on 127.0.0.1 for end-to-end tests.

    with running_server(tmp_path) as server:
        httpx.get(f"{server.base_url}/health")
        assert server.stop() == 0          # SIGTERM, then wait for a clean exit

The server gets its own data directory and SQLite file under ``data_dir`` (reuse the same
directory to restart on the same database); with ``TEST_DATABASE_URL`` a PostgreSQL
database named after ``data_dir`` instead. Its output goes to ``data_dir/server-N.log``.
"""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.databases import ON_POSTGRES, RUN_PREFIX, ensure_database

ROOT = Path(__file__).resolve().parents[2]
STARTUP_DEADLINE_S = 20.0
STOP_DEADLINE_S = 15.0


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_url_for(data_dir: Path) -> str:
    """The database of the server whose state lives under ``data_dir`` (same dir, same data)."""
    if ON_POSTGRES:
        digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
        return ensure_database(f"{RUN_PREFIX}_e2e_{digest}")
    return f"sqlite+aiosqlite:///{data_dir / 'app.db'}"


def server_env(
    data_dir: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Environment for a server whose state lives under ``data_dir`` (mock mode)."""
    env = dict(os.environ)
    env.update(
        {
            "MODE": "mock",
            "DATA_DIR": str(data_dir),
            "UPLOAD_DIR": str(data_dir / "uploads"),
            "DATABASE_URL": database_url_for(data_dir),
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT), env.get("PYTHONPATH")])
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class ServerProcess:
    """A running server: its base URL, its process and its log file."""

    def __init__(
        self, process: subprocess.Popen[bytes], base_url: str, log: Path
    ) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    @property
    def database_url(self) -> str:
        return database_url_for(self.log.parent)

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_healthy(self, deadline_s: float = STARTUP_DEADLINE_S) -> None:
        """Poll ``/health`` until it answers 200; fail with the server's output otherwise."""
        deadline = time.monotonic() + deadline_s
        with httpx.Client(timeout=1.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.process.returncode}:\n{self.output()}"
                    )
                try:
                    if http.get(f"{self.base_url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)  # polling interval while the process boots
        raise TimeoutError(f"server not healthy after {deadline_s}s:\n{self.output()}")

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """SIGTERM (graceful shutdown) and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=deadline_s)

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_DEADLINE_S)


@contextmanager
def running_server(
    data_dir: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[ServerProcess]:
    """Start ``serve`` on a free port, wait until healthy, yield it; always kill on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = data_dir / f"server-{port}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=data_dir,
            env=server_env(data_dir, env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_healthy()
        yield server
    finally:
        if process.poll() is None:
            try:
                server.stop(deadline_s=5.0)
            except subprocess.TimeoutExpired:
                server.kill()
