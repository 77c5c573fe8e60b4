"""The transactional e-mail service."""

from collections.abc import Mapping
from typing import Any

from app.clients._base import ServiceClient


class EmailServiceClient(ServiceClient):
    """Sends templated e-mails; raises ``httpx.HTTPError`` when the service refuses."""

    async def send(
        self, *, to: str, subject: str, template: str, data: Mapping[str, Any]
    ) -> None:
        """Hand one e-mail to the service (202 = accepted for delivery)."""
        response = await self._post(
            "/send",
            {"to": to, "subject": subject, "template": template, "data": dict(data)},
        )
        response.raise_for_status()
