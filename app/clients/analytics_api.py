"""The analytics service's batch endpoint."""

from collections.abc import Mapping, Sequence
from typing import Any

from app.clients._base import ServiceClient


class AnalyticsApiClient(ServiceClient):
    """Sends events in batches: ``{"events": [{event, user_id, properties, timestamp}]}``."""

    async def send_batch(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Deliver one batch; raises ``httpx.HTTPError`` when the service refuses."""
        response = await self._post(
            "/batch", {"events": [dict(event) for event in events]}
        )
        response.raise_for_status()
