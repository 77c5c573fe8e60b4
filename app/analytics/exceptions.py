"""Refusals of the analytics endpoints, rendered as ``{"detail": ...}`` by app.errors."""

from collections.abc import Mapping
from typing import ClassVar

from fastapi import status

from app.errors import DomainError


class AnalyticsOverloadedError(DomainError):
    """Too many events held in memory (or shutting down); retry after Retry-After."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    detail = "Analytics buffers are full; retry after the Retry-After delay"
    documented_headers: ClassVar[Mapping[str, str]] = {
        "Retry-After": "Seconds to wait before retrying"
    }

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after_s)})
