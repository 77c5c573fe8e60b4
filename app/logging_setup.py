"""Log format with a request id, and the tiny ASGI middleware that sets it.

The task library copies contextvars when a task is scheduled, so a task's log lines carry the
id of the request that scheduled it.
"""

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Final
from urllib.parse import unquote_plus

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

REQUEST_ID_HEADER = "x-request-id"
# Kept at WARNING whatever the service's level. The database ones log SQL parameters and
# connection events at DEBUG (e-mails, password hashes); httpx logs every outgoing call at
# INFO, three lines per order that only repeat what the callers log as outcomes (charge
# booked, "outbox N sent", a failed attempt with its status): about 2 % of the event loop's
# time under load (bench/orders_load.py, profiled with py-spy).
QUIET_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "httpcore", "httpx")
TASK_FAILURE_LOGGER = "fastapi_tasks.tasks"  # where the task library logs failures
LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Query parameters whose values must not reach the access log (e.g. /verify?token=...),
# compared after percent-decoding and case folding: tok%65n= and TOKEN= are token=.
SECRET_QUERY_NAMES: Final = frozenset(
    {"token", "password", "api_key", "apikey", "key", "secret", "access_token"}
)
MASK: Final = "***"


def redact_query(target: str) -> str:
    """``target`` (a path with its query) with the values of secret parameters masked.

    The query is split into its ``name=value`` pairs and each name is decoded as a server
    would decode it; names that decode to a secret keep their raw spelling, and lose their
    value. Everything else is left byte for byte as the client sent it.
    """
    path, mark, query = target.partition("?")
    if not mark:
        return target
    pairs = []
    for pair in query.split("&"):
        raw_name, equals, _ = pair.partition("=")
        name = unquote_plus(raw_name, errors="replace").strip().casefold()
        if equals and name in SECRET_QUERY_NAMES:
            pair = f"{raw_name}={MASK}"
        pairs.append(pair)
    return f"{path}?{'&'.join(pairs)}"


class RequestIdMiddleware:
    """Give every HTTP request an id (the caller's ``X-Request-ID`` if sane) and echo it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex[:16]
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Reset only on success. An exception is logged after it leaves this middleware
        # (Starlette's error handler, then the server's traceback), in this same context:
        # those lines must carry this request's id, not "-". Each request runs in a fresh
        # context under a server, so nothing leaks into the next one.
        request_id_var.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class RedactQueryFilter(logging.Filter):
    """Masks secret query values in access-log lines (uvicorn logs the full path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_query(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


def is_outage(error: BaseException) -> bool:
    """An external system down or unreachable: an operational event, not a bug here."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500
    return isinstance(error, httpx.TransportError)


class OutageFailureFilter(logging.Filter):
    """A task that failed because an external system is down: WARNING, no traceback.

    The task library logs every failed task at ERROR with its traceback, which is right
    for bugs. When the cause is an outage after every retry (a 503, a timeout), the
    traceback is httpx's stack, the same each time, and the app's ``on_error`` handler
    already logs the outcome it books (at ERROR when someone must act): one 20-line
    traceback per e-mail during an e-mail outage is noise an attacker can multiply.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and is_outage(error):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(level: str = "INFO") -> None:
    """Root handler with request ids; uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactQueryFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    tasks_logger = logging.getLogger(TASK_FAILURE_LOGGER)
    if not any(isinstance(f, OutageFailureFilter) for f in tasks_logger.filters):
        tasks_logger.addFilter(OutageFailureFilter())
