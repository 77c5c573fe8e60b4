"""Back-off delays for built-in retries (pure; the random source is injectable)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from fastapi_tasks.config import TaskConfig

__all__ = [
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_RETRY_JITTER",
    "backoff_delays",
]

DEFAULT_RETRY_DELAY = 0.5
DEFAULT_RETRY_BACKOFF = 2.0
DEFAULT_RETRY_JITTER = 0.1


def backoff_delays(
    config: TaskConfig, rand: Callable[[], float] = random.random
) -> Iterator[float]:
    """Yield the delay before retry 1, 2, ...: ``delay * backoff ** n``, minus up to ``jitter`` of it."""
    delay = DEFAULT_RETRY_DELAY if config.retry_delay is None else config.retry_delay
    backoff = (
        DEFAULT_RETRY_BACKOFF if config.retry_backoff is None else config.retry_backoff
    )
    jitter = (
        DEFAULT_RETRY_JITTER if config.retry_jitter is None else config.retry_jitter
    )
    n = 0
    while True:
        base = delay * backoff**n
        yield max(0.0, base * (1.0 - jitter * rand()))
        n += 1
