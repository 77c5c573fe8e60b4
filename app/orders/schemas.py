"""Request and response bodies of the orders API."""

import re
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from app.email_address import EmailAddress
from app.orders.models import InventoryStatus, OrderStatus, PaymentStatus
from app.outbox.schemas import OutboxEntryRead
from app.text_input import StorableText

# SQLite integers are 64-bit: a larger id would fail in the driver (a 500), not be a 422/404.
MAX_ID = 2**63 - 1
# Said as "below 2**63" rather than "at most 2**63 - 1": FastAPI's OpenAPI models hold
# bounds as floats, and 2**63 - 1 rounds up to 2**63 there, while 2**63 itself is exact.
ID_BOUND = MAX_ID + 1

# Exact Decimal inside; a JSON number outside. float() of a 2-place Decimal prints back
# as the same digits (shortest repr), so 59.97 never turns into 59.970000000000006.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda amount: float(amount), return_type=float, when_used="json"),
]

# What the price field accepts, said exactly and checked as said: a positive amount with
# at most 2 decimals and 10 digits, as a JSON number or a plain decimal string ("",
# " 1", "+1" or "1e3" are refused; pydantic alone would take the last three).
PRICE_MAX = Decimal("99999999.99")
PRICE_STRING = re.compile(r"^(?=.*[1-9])\d{1,8}(\.\d{1,2})?$")


def _plain_decimal_string(value: object) -> object:
    if isinstance(value, str) and not PRICE_STRING.match(value):
        raise PydanticCustomError(
            "decimal_string",
            "A price given as a string must be digits with at most 2 decimals, "
            'like "89.99"',
        )
    return value


PriceIn = Annotated[
    Decimal,
    Field(gt=0, max_digits=10, decimal_places=2, allow_inf_nan=False),
    BeforeValidator(_plain_decimal_string),
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": float(PRICE_MAX),
                    "multipleOf": 0.01,
                },
                {
                    "type": "string",
                    "pattern": PRICE_STRING.pattern,
                },
            ]
        }
    ),
]


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: int = Field(gt=0, lt=ID_BOUND, examples=[1])
    quantity: int = Field(ge=1, le=100, examples=[2])
    price: PriceIn = Field(
        description="Unit price the client saw; must equal the catalogue price",
        examples=[89.99],
    )


class OrderCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": 42,
                    "email": "ada@example.com",
                    "items": [{"product_id": 1, "quantity": 2, "price": 89.99}],
                    "payment_token": "tok_visa",
                }
            ]
        }
    )

    user_id: int = Field(gt=0, lt=ID_BOUND)
    email: EmailAddress
    items: list[OrderLineIn] = Field(min_length=1, max_length=50)
    payment_token: Annotated[SecretStr, StorableText()] = Field(
        min_length=1,
        max_length=200,
        description="Card token from the payment form (tok_declined and tok_error always fail)",
    )


class OrderAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"order_id": 1, "status": "processing", "total": 179.98}]
        }
    )

    order_id: int
    status: OrderStatus
    total: Money


class OrderLineRead(BaseModel):
    product_id: int
    quantity: int
    price: Money


class OrderRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": 1,
                    "user_id": 42,
                    "email": "ada@example.com",
                    "status": "confirmed",
                    "payment_status": "succeeded",
                    "inventory_status": "reserved",
                    "total": 179.98,
                    "items": [{"product_id": 1, "quantity": 2, "price": 89.99}],
                    "notifications": [
                        {
                            "message_id": 7,
                            "kind": "email",
                            "topic": "order_confirmation",
                            "status": "sent",
                            "attempts": 1,
                            "created_at": "2026-11-30T10:00:00.120000Z",
                            "sent_at": "2026-11-30T10:00:00.180000Z",
                            "last_error": None,
                        }
                    ],
                }
            ]
        }
    )

    order_id: int
    user_id: int
    email: str
    status: OrderStatus
    payment_status: PaymentStatus
    inventory_status: InventoryStatus
    total: Money
    items: list[OrderLineRead]
    notifications: list[OutboxEntryRead] = Field(
        default_factory=list,
        description="What the order promised (e-mail, shipment, alerts) and whether it was delivered",
    )


class ProductRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": 1,
                    "name": "Mechanical keyboard",
                    "price": 89.99,
                    "available": 50,
                }
            ]
        }
    )

    product_id: int
    name: str
    price: Money
    available: int = Field(description="Stock not yet reserved by orders")
