"""The payment gateway: charges and refunds, idempotent by order id."""

from decimal import Decimal
from typing import Any, Literal

import httpx
from pydantic import BaseModel, SecretStr

from app.clients._base import ServiceClient


class Charge(BaseModel):
    """A charge the gateway accepted."""

    charge_id: str
    status: Literal["succeeded"]


class Refund(BaseModel):
    """A refund the gateway accepted."""

    refund_id: str
    charge_id: str
    status: Literal["succeeded"]


class ChargeRecord(BaseModel):
    """What the gateway remembers of a charge request: its first answer, by key."""

    idempotency_key: str
    status_code: int
    response: dict[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.status_code == httpx.codes.OK

    @property
    def charge_id(self) -> str | None:
        value = self.response.get("charge_id")
        return value if isinstance(value, str) else None

    @property
    def decline_code(self) -> str:
        return str(self.response.get("error", "card_declined"))


class PaymentDeclinedError(Exception):
    """The gateway answered and refused the charge; retrying will not help."""

    def __init__(self, order_id: int, code: str) -> None:
        super().__init__(f"payment for order {order_id} declined ({code})")
        self.order_id = order_id
        self.code = code


def charge_key(order_id: int) -> str:
    """The Idempotency-Key of an order's charge: every retry and lookup uses it."""
    return str(order_id)


def _money(amount: Decimal) -> str:
    # Exact decimal string: a float would put binary noise on the wire.
    return str(amount.quantize(Decimal("0.01")))


class PaymentGatewayClient(ServiceClient):
    """Charges and refunds; every call carries an ``Idempotency-Key`` made of the order id.

    The charge's key is the order id; the refund's is ``refund-<order id>``. Gateways keep
    one key per request, across endpoints: a refund sent with the charge's key would be
    refused (or answered with the charge's cached response), never carried out.
    """

    async def charge(
        self,
        *,
        order_id: int,
        amount: Decimal,
        token: SecretStr,
        currency: str = "USD",
    ) -> Charge:
        """Charge ``amount``; raises ``PaymentDeclinedError`` on 402, ``httpx`` errors otherwise."""
        response = await self._post(
            "/charge",
            {
                "amount": _money(amount),
                "currency": currency,
                "token": token.get_secret_value(),
                "metadata": {"order_id": order_id},
            },
            headers={"Idempotency-Key": charge_key(order_id)},
        )
        if response.status_code == httpx.codes.PAYMENT_REQUIRED:
            code = "card_declined"
            if response.headers.get("content-type", "").startswith("application/json"):
                code = str(response.json().get("error", code))
            raise PaymentDeclinedError(order_id, code)
        response.raise_for_status()
        return Charge.model_validate(response.json())

    async def find_charge(self, *, order_id: int) -> ChargeRecord | None:
        """Ask what became of the order's charge request; None if the gateway never saw it.

        This is how an unknown outcome (a timeout after the request was sent) is settled.
        """
        response = await self._http.get(
            f"{self.base_url}/charges/{charge_key(order_id)}",
            headers=self._headers,
            timeout=self._timeout,
        )
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        response.raise_for_status()
        return ChargeRecord.model_validate(response.json())

    async def refund(
        self, *, order_id: int, charge_id: str, amount: Decimal, currency: str = "USD"
    ) -> Refund:
        """Refund a charge in full; idempotent by order id, under its own key."""
        response = await self._post(
            "/refund",
            {
                "charge_id": charge_id,
                "amount": _money(amount),
                "currency": currency,
                "metadata": {"order_id": order_id},
            },
            headers={"Idempotency-Key": f"refund-{order_id}"},
        )
        response.raise_for_status()
        return Refund.model_validate(response.json())
