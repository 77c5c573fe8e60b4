"""The operators' alert webhook (Slack-style ``{"text": ...}``)."""

from typing import Literal

from app.clients._base import ServiceClient, idempotency_header

Severity = Literal["info", "warning", "error"]


class AlertClient(ServiceClient):
    """Posts an alert for a human; callers pass ids and reasons, never secrets."""

    async def send(
        self,
        *,
        text: str,
        severity: Severity = "error",
        source: str = "demo",
        idempotency_key: str | None = None,
    ) -> None:
        """Post one alert; raises ``httpx.HTTPError`` when the webhook refuses."""
        response = await self._post(
            "/alert",
            {"text": text, "severity": severity, "source": source},
            headers=idempotency_header(idempotency_key),
        )
        response.raise_for_status()
