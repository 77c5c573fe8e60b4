"""Logging configuration: request ids on every line and no secrets, even at DEBUG."""

import logging
from collections.abc import Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.logging_setup import (
    QUIET_LOGGERS,
    TASK_FAILURE_LOGGER,
    RedactQueryFilter,
    RequestIdFilter,
    configure_logging,
    redact_query,
)
from app.main import create_app
from tests.hostile.live_server import serving


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    task_filters = logging.getLogger(TASK_FAILURE_LOGGER).filters[:]
    yield
    root.handlers, root.level = handlers, level
    logging.getLogger(TASK_FAILURE_LOGGER).filters = task_filters
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.usefixtures("restore_logging")
def test_debug_level_keeps_sql_parameter_loggers_quiet() -> None:
    configure_logging("DEBUG")
    assert logging.getLogger("app").isEnabledFor(logging.DEBUG)
    for name in QUIET_LOGGERS:
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name


def test_access_log_masks_secret_query_values() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/verify?token=abc123&x=1", "1.1", 200),
        None,
    )
    RedactQueryFilter().filter(record)
    line = record.getMessage()
    assert "abc123" not in line
    assert "/verify?token=***&x=1" in line


def _access_line(target: str) -> str:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", target, "1.1", 200),
        None,
    )
    RedactQueryFilter().filter(record)
    return record.getMessage()


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        # the name percent-encoded, in another case, or with "+" where a space decodes
        ("/verify?tok%65n=abc123", "/verify?tok%65n=***"),
        ("/verify?%74%6F%6B%65%6E=abc123&x=1", "/verify?%74%6F%6B%65%6E=***&x=1"),
        ("/verify?TOKEN=abc123", "/verify?TOKEN=***"),
        ("/verify?x=1&token=abc123&token=abc123", "/verify?x=1&token=***&token=***"),
        ("/p?Password=abc123;x", "/p?Password=***"),
        ("/p?api_key=abc123#frag", "/p?api_key=***"),
    ],
)
def test_access_log_redaction_decodes_parameter_names(target: str, logged: str) -> None:
    line = _access_line(target)

    assert "abc123" not in line
    assert f'"POST {logged} HTTP/1.1"' in line


@pytest.mark.parametrize(
    "target",
    ["/verify", "/orders?limit=5&user_id=7", "/x?tokens=1&my_token=2", "/x?a=%ZZ&b"],
)
def test_access_log_keeps_other_queries_byte_for_byte(target: str) -> None:
    assert f'"POST {target} HTTP/1.1"' in _access_line(target)


def test_redact_query_masks_what_the_app_would_read_as_a_secret() -> None:
    # Whatever spelling the client uses, the server reads the same parameter name.
    from urllib.parse import parse_qsl

    for raw in ("tok%65n", "TOKEN", "t%6Fken", "tok%65n+"):
        target = f"/verify?{raw}=s3cret"
        [(name, _)] = parse_qsl(target.partition("?")[2])
        assert name.strip().casefold() == "token"
        assert "s3cret" not in redact_query(target)


@pytest.mark.anyio
async def test_an_unhandled_error_is_logged_with_the_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    caplog.handler.addFilter(RequestIdFilter())
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://test",
        ) as http,
    ):
        response = await http.get("/boom", headers={"X-Request-ID": "req-42"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error; the error was logged"}
    [line] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "RuntimeError" in line.getMessage()
    assert line.__dict__["request_id"] == "req-42"


def test_the_servers_traceback_of_an_unhandled_error_carries_the_request_id(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Under a real uvicorn: Starlette answers 500, then re-raises so the server logs the
    # traceback ("Exception in ASGI application"); that line must name the request too.
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    caplog.handler.addFilter(RequestIdFilter())
    with serving(app) as (host, port):
        response = httpx.get(
            f"http://{host}:{port}/boom", headers={"X-Request-ID": "req-43"}
        )

    assert response.status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert {r.name for r in errors} >= {"uvicorn.error", "app.main"}
    assert {r.__dict__["request_id"] for r in errors} == {"req-43"}
    [traceback] = [r for r in errors if r.exc_info]
    assert traceback.name == "uvicorn.error"


def _raised(error: Exception) -> Exception:
    try:
        raise error
    except Exception as caught:  # with its traceback, as a task's failure carries it
        return caught


_REQUEST = httpx.Request("POST", "https://email.mock/send")


class Collector(logging.Handler):
    """Keeps what reaches the root handlers (after configure_logging replaced them)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("error", "level", "traceback"),
    [
        (
            httpx.HTTPStatusError(
                "503", request=_REQUEST, response=httpx.Response(503, request=_REQUEST)
            ),
            logging.WARNING,
            False,
        ),
        (httpx.ConnectTimeout("no answer", request=_REQUEST), logging.WARNING, False),
        (  # a 4xx means we sent something wrong: a bug, traceback kept
            httpx.HTTPStatusError(
                "422", request=_REQUEST, response=httpx.Response(422, request=_REQUEST)
            ),
            logging.ERROR,
            True,
        ),
        (RuntimeError("a bug"), logging.ERROR, True),
    ],
)
def test_a_task_failed_by_an_outage_is_a_warning_without_traceback(
    error: Exception, level: int, traceback: bool
) -> None:
    configure_logging()
    collector = Collector()
    logging.getLogger().addHandler(collector)

    logging.getLogger(TASK_FAILURE_LOGGER).error(
        "task %r failed", "outbox.deliver", exc_info=_raised(error)
    )

    [record] = collector.records
    assert (record.levelno, bool(record.exc_info)) == (level, traceback)
