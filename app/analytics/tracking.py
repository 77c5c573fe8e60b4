"""The one door to analytics: ``EventTracker.track``.

Interim version: each event is sent at once as a batch of one. The analytics package replaces
the internals (per-user buffering, timed flush, database fallback) keeping ``track``'s signature.
"""

import logging
from collections.abc import Mapping
from typing import Any

from app.clients.analytics_api import AnalyticsApiClient
from app.db import utcnow

logger = logging.getLogger(__name__)


class EventTracker:
    """Records product events; ``track`` never raises (analytics must not break a flow)."""

    def __init__(self, api: AnalyticsApiClient) -> None:
        self._api = api

    async def track(
        self, *, event: str, user_id: int, properties: Mapping[str, Any]
    ) -> None:
        """Record ``event`` for ``user_id``; failures are logged, never raised."""
        payload = {
            "event": event,
            "user_id": user_id,
            "properties": dict(properties),
            "timestamp": utcnow().isoformat(),
        }
        try:
            await self._api.send_batch([payload])
        except Exception as exc:  # tracking is best effort by contract
            logger.warning(
                "analytics event %s for user %s lost: %s",
                event,
                user_id,
                type(exc).__name__,
            )
