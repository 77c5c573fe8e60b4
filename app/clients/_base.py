"""What every service client shares: the one AsyncClient, a base URL, auth and a timeout."""

from collections.abc import Mapping
from typing import Any

import httpx

from app.config import ServiceConfig


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
