"""The warehouse system that prepares shipments."""

from collections.abc import Mapping, Sequence

from app.clients._base import ServiceClient, idempotency_header, raise_for_status


class WarehouseClient(ServiceClient):
    """Asks the warehouse to prepare a shipment for a confirmed order."""

    async def prepare_shipment(
        self,
        *,
        order_id: int,
        items: Sequence[Mapping[str, int]],
        idempotency_key: str | None = None,
    ) -> None:
        """``items`` are ``{"sku": product_id, "qty": quantity}`` pairs (the seed's shape)."""
        response = await self._post(
            "/prepare-shipment",
            {"order_id": order_id, "items": [dict(item) for item in items]},
            headers=idempotency_header(idempotency_key),
        )
        raise_for_status(response, service="warehouse")
