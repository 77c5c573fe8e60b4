"""The real service for the service benchmarks: ``serve`` on a free 127.0.0.1 port, mock mode,
SQLite in a throwaway data directory, stopped with SIGTERM at the end (killed if it hangs).

    with running_service(env={"BCRYPT_ROUNDS": "12"}) as service:
        httpx.get(f"{service.base_url}/health")
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.processes import free_port, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
SERVE = ("-m", "app.cli", "serve")
STOP_DEADLINE_S = 30.0


@dataclass(frozen=True)
class Service:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.data_dir / "app.db"

    def sql(self, query: str, *args: object) -> list[tuple[object, ...]]:
        """A query on the service's SQLite file (WAL: readers do not block it)."""
        with sqlite3.connect(self.database, timeout=30) as db:
            return db.execute(query, args).fetchall()

    def stop(self) -> int:
        """SIGTERM, wait for the exit code (SIGKILL past the deadline)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextmanager
def running_service(
    *,
    source: Path = ROOT,
    command: Sequence[str] = SERVE,
    env: Mapping[str, str] | None = None,
) -> Iterator[Service]:
    """The service from the tree at ``source``, run by ``python COMMAND --port N``."""
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        data_dir = Path(tmp)
        port = free_port()
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        environ.update(
            {
                "MODE": "mock",
                "DATA_DIR": str(data_dir),
                "UPLOAD_DIR": str(data_dir / "uploads"),
                "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'app.db'}",
                "PYTHONPATH": str(source),
                "MALLOC_ARENA_MAX": "2",  # as `make demo` and the image run it
                **(env or {}),
            }
        )
        log = data_dir / "server.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, *command, "--port", str(port)],
                cwd=source,
                env=environ,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        service = Service(process, port, data_dir, log)
        try:
            wait_healthy(process, port, log)
            yield service
        finally:
            service.stop()
