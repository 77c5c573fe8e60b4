"""The ``fastapi-tasks-demo`` command: ``serve``, ``migrate`` (and ``walkthrough``)."""

import argparse
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from app.config import get_settings
from app.db_migrate import migrate_database
from app.logging_setup import configure_logging
from app.serving import (
    BannerServer,
    CannotServeError,
    DataDirLock,
    banner,
    listening_socket,
    serve_address,
)
from walkthrough import add_walkthrough_command

logger = logging.getLogger("app.cli")


def cmd_migrate(_: argparse.Namespace) -> int:
    """Apply every migration (``alembic upgrade heads``)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    migrate_database(settings.database_url)
    logger.info("database is at the latest revision")
    return 0


def _ignore_signal(signum: int, _frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it handled once it has shut down; with the default
    # handler SIGTERM would then kill us (exit -15) after a clean shutdown. Exit 0 instead.
    logger.debug("signal %s after graceful shutdown ignored", signum)


def link_base_url(host: str, port: int) -> str:
    """Where links in e-mails and image URLs should point when PUBLIC_BASE_URL is unset."""
    if host in ("0.0.0.0", "::", ""):  # bound everywhere: links use loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def cmd_serve(args: argparse.Namespace) -> int:
    """Run uvicorn (``--workers N`` processes); each migrates and seeds under one lock."""
    try:
        host, port = serve_address(args.host, args.port, os.environ)
        workers = worker_count(args.workers, os.environ)
    except ValueError as exc:
        sys.stderr.write(f"fastapi-tasks-demo serve: {exc}\n")
        return 2
    settings = get_settings()
    if "public_base_url" not in settings.model_fields_set:
        # `make demo PORT=9000` must not hand out links to port 8000. The app factory reads
        # settings again in the server, so pass the value through the environment.
        os.environ["PUBLIC_BASE_URL"] = link_base_url(host, port)
        get_settings.cache_clear()
        settings = get_settings()
    configure_logging(settings.log_level)
    try:
        # Bound here, before migrations run, so a busy port is one line, not a traceback.
        sock = listening_socket(host, port)
        lock = DataDirLock.acquire(settings.data_dir)
    except CannotServeError as exc:
        sys.stderr.write(f"fastapi-tasks-demo serve: {exc}\n")
        return 1
    # Migrations and seeding run in the app's lifespan, before the first request is served.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore_signal)
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        log_config=None,
        log_level=settings.log_level.lower(),
        # Our own shutdown_timeout bounds the task drain; uvicorn waits for requests first.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        workers=workers,
    )
    server = BannerServer(config, banner=banner(settings.public_base_url))
    with lock, sock:
        if workers > 1:
            # uvicorn's supervisor: N processes accept on the one socket, a worker that
            # dies is replaced; the data-directory lock stays with this parent.
            supervisor = BannerMultiprocess(
                config, [sock], banner=banner(settings.public_base_url)
            )
            supervisor.run()
            return STARTUP_FAILURE if supervisor.failed_to_start else 0
        server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILURE


class BannerMultiprocess(Multiprocess):
    """uvicorn's supervisor, saying where to go once every worker is ready."""

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], *, banner: str
    ) -> None:
        super().__init__(config, sockets)
        self._banner = banner

    def init_processes(self) -> None:
        super().init_processes()
        timeout = self.config.timeout_worker_healthcheck
        if all(p.wait_until_ready(timeout, self.should_exit) for p in self.processes):
            logger.info("%s  [%d workers]", self._banner, len(self.processes))

    @property
    def failed_to_start(self) -> bool:
        return any(p.exitcode == STARTUP_FAILURE for p in self.processes)


def worker_count(workers: int | None, environ: Mapping[str, str]) -> int:
    """``--workers``, else ``$WORKERS``, else 1."""
    if workers is None:
        raw = environ.get("WORKERS", "").strip() or "1"
        try:
            workers = int(raw)
        except ValueError:
            raise ValueError(f"WORKERS={raw!r} is not a number") from None
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers})")
    return workers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastapi-tasks-demo", description="The fastapi-tasks demo service"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, seed and run the HTTP server")
    serve.add_argument(
        "--host", help="interface to bind (default: $HOST, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, help="port to bind (default: $PORT, else 8000)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes (default: $WORKERS, else 1); see docs/deployment.md",
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=cmd_migrate)

    # More subcommands (e.g. ``walkthrough``, from the top-level walkthrough package) register here:
    # commands.add_parser(...).set_defaults(handler=...)
    add_walkthrough_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    sys.exit(args.handler(args))


if __name__ == "__main__":
    main()
