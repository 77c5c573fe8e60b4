"""What every service client shares: the one AsyncClient, a base URL, auth and a timeout."""

from collections.abc import Mapping
from typing import Any

import httpx

from app.config import ServiceConfig

# 4xx answers that say "not now" rather than "never": worth another attempt.
TRANSIENT_4XX = frozenset({408, 425, 429})

# What a task may retry: the network failed, or the service answered 5xx or a transient
# 4xx. Other 4xx answers are raised as RequestRejectedError, which is not in this tuple.
RETRYABLE: tuple[type[BaseException], ...] = (
    httpx.TransportError,
    httpx.HTTPStatusError,
)


class RequestRejectedError(Exception):
    """The service refused the request (a 4xx): sending it again will not help."""

    def __init__(self, service: str, status_code: int) -> None:
        super().__init__(f"{service} refused the request (HTTP {status_code})")
        self.status_code = status_code


def raise_for_status(response: httpx.Response, *, service: str) -> None:
    """``RequestRejectedError`` for a final 4xx, ``httpx.HTTPStatusError`` for the rest."""
    code = response.status_code
    if 400 <= code < 500 and code not in TRANSIENT_4XX:
        raise RequestRejectedError(service, code)
    response.raise_for_status()


def idempotency_header(key: str | None) -> dict[str, str]:
    """``{"Idempotency-Key": key}``, or nothing without a key."""
    return {} if key is None else {"Idempotency-Key": key}


class ServiceClient:
    """Base of the per-system clients; holds the shared client, never creates one."""

    def __init__(self, http: httpx.AsyncClient, config: ServiceConfig) -> None:
        self._http = http
        self.base_url = config.base_url.rstrip("/")
        self._timeout = config.timeout_s
        key = config.api_key.get_secret_value()
        # The key lives only in this header dict: never in a log line or a repr.
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def _post(
        self,
        path: str,
        payload: Mapping[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return await self._http.post(
            f"{self.base_url}{path}",
            json=payload,
            headers={**self._headers, **(headers or {})},
            timeout=self._timeout,
        )
