"""Logging configuration: request ids on every line and no secrets, even at DEBUG."""

import logging
from collections.abc import Iterator

import pytest

from app.logging_setup import QUIET_LOGGERS, RedactQueryFilter, configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    root.handlers, root.level = handlers, level
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
