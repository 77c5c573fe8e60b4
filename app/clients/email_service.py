"""The transactional e-mail service."""

from collections.abc import Mapping
from typing import Any

from app.clients._base import ServiceClient, idempotency_header, raise_for_status


class EmailServiceClient(ServiceClient):
    """Sends templated e-mails.

    Raises ``RequestRejectedError`` when the service refuses the message (a 4xx that
    would come back again) and ``httpx.HTTPError`` for failures worth retrying.
    """

    async def send(
        self,
        *,
        to: str,
        subject: str,
        template: str,
        data: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> None:
        """Hand one e-mail to the service (202 = accepted for delivery).

        With ``idempotency_key``, a repeat of the same key is not sent again.
        """
        response = await self._post(
            "/send",
            {"to": to, "subject": subject, "template": template, "data": dict(data)},
            headers=idempotency_header(idempotency_key),
        )
        raise_for_status(response, service="e-mail service")
