"""What ``serve`` checks and says before and after uvicorn starts.

A newcomer's first run should end in one line they can act on, not a traceback: a busy
port and a data directory already served by another process are refused before any
migration runs, and once the server listens it says where to go.
"""

import errno
import fcntl
import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

logger = logging.getLogger("app.cli")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOCK_NAME = ".server.lock"


class CannotServeError(Exception):
    """The server cannot start; the message says why and what to do."""


def serve_address(
    host: str | None, port: int | None, environ: Mapping[str, str]
) -> tuple[str, int]:
    """``--host``/``--port``, else ``$HOST``/``$PORT`` (as container platforms set them)."""
    host = host or environ.get("HOST") or DEFAULT_HOST
    if port is None:
        raw = environ.get("PORT", "").strip()
        if not raw:
            return host, DEFAULT_PORT
        try:
            port = int(raw)
        except ValueError:
            raise ValueError(f"PORT={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is outside 0-65535")
    return host, port


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` now; uvicorn serves on this very socket (no second bind, no race)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotServeError(
                f"port {port} is in use — is the demo already running? "
                f"Use another port: PORT={port + 1} make demo"
            ) from None
        raise CannotServeError(
            f"cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    sock.set_inheritable(True)
    return sock


class DataDirLock:
    """An exclusive lock on the data directory, held for the server's lifetime.

    The database may be shared, but the fakes' state (``fakes.db``) and the upload files
    belong to one server. ``flock`` is released by the kernel when the process dies, so a
    crashed server never leaves a stale lock behind.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> Self:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise CannotServeError(
                f"another server (pid {holder}) is using the data directory "
                f"{data_dir.resolve()} — stop it, or give this one its own DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(fd)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def banner(base_url: str) -> str:
    base = base_url.rstrip("/")
    return (
        f"Ready on {base}  ·  Dashboard: {base}/  ·  API docs: {base}/docs  ·  "
        "tutorial: docs/tutorial.md  (Ctrl+C stops)"
    )


class BannerServer(uvicorn.Server):
    """uvicorn's server, saying where to go once it listens (after migrations and seed)."""

    def __init__(self, config: uvicorn.Config, *, banner: str) -> None:
        super().__init__(config)
        self._banner = banner

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            logger.info("%s", self._banner)
