"""The transactional e-mail service."""

from collections.abc import Mapping
from typing import Any

from app.clients._base import ServiceClient, raise_for_status


class EmailServiceClient(ServiceClient):
    """Sends templated e-mails.

    Raises ``RequestRejectedError`` when the service refuses the message (a 4xx that
    would come back again) and ``httpx.HTTPError`` for failures worth retrying.
    """

    async def send(
        self, *, to: str, subject: str, template: str, data: Mapping[str, Any]
    ) -> None:
        """Hand one e-mail to the service (202 = accepted for delivery)."""
        response = await self._post(
            "/send",
            {"to": to, "subject": subject, "template": template, "data": dict(data)},
        )
        raise_for_status(response, service="e-mail service")
