"""What the fake systems show of themselves: faults, recorded calls, charges, shipments."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PaymentFault = Literal[
    "ok", "decline", "error", "timeout", "slow", "lost_answer", "hold"
]
EmailFault = Literal["ok", "down", "flaky"]
DownFault = Literal["ok", "down"]

PAYMENT_FAULTS = (
    "ok: charges succeed; decline: 402; error: 503; timeout: the request never reaches "
    "the gateway (nothing charged, the client times out); slow: answers after "
    "fake_payment_slow_s; lost_answer: the charge is made and stored under its "
    "Idempotency-Key, then the answer is lost (the client times out) — a retry with the "
    "same key, or GET /charges/{key}, gets the stored answer; hold: each charge waits "
    "until the payment fault is changed (at most 60 s), then is answered under the new one"
)


class Faults(BaseModel):
    """What each fake system does right now (a snapshot; ``PUT /demo/faults`` changes it)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "payment": "lost_answer",
                    "email": "ok",
                    "cdn": "ok",
                    "warehouse": "ok",
                    "analytics": "down",
                    "alerts": "ok",
                }
            ]
        },
    )

    payment: PaymentFault = Field(default="ok", description=PAYMENT_FAULTS)
    email: EmailFault = Field(
        default="ok", description="flaky: every other call fails with 503"
    )
    cdn: DownFault = "ok"
    warehouse: DownFault = "ok"
    analytics: DownFault = "ok"
    alerts: DownFault = "ok"


class FaultsUpdate(BaseModel):
    """A partial change of the faults; unknown systems or values are a 422."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"payment": "decline", "email": "flaky"},
                {"payment": "lost_answer"},
            ]
        },
    )

    payment: PaymentFault | None = Field(default=None, description=PAYMENT_FAULTS)
    email: EmailFault | None = None
    cdn: DownFault | None = None
    warehouse: DownFault | None = None
    analytics: DownFault | None = None
    alerts: DownFault | None = None


class RecordedCall(BaseModel):
    """One request a fake system received, secrets redacted, big bodies cut short."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "service": "payment",
                    "method": "POST",
                    "url": "https://payments.mock/charge",
                    "status": 200,
                    "headers": {
                        "host": "payments.mock",
                        "content-type": "application/json",
                        "authorization": "***redacted***",
                        "idempotency-key": "1",
                    },
                    "body": {
                        "amount": "59.98",
                        "currency": "USD",
                        "token": "***redacted***",
                        "metadata": {"order_id": 1},
                    },
                    "at": "2026-11-24T10:00:00.120000Z",
                }
            ]
        }
    )

    service: str
    method: str
    url: str
    status: int | None = Field(description="None when the client got no answer")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="The request's headers, names lower-cased; credentials "
        "(Authorization, API keys, cookies, tokens) redacted",
    )
    body: Any = Field(
        description='The JSON body as sent; {"bytes": n} for binary bodies, '
        '{"truncated": true, "bytes": n} for big ones'
    )
    at: datetime


class ChargeRecord(BaseModel):
    """A charge the fake gateway decided: 200 (charged) or 402 (declined)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "idempotency_key": "1",
                    "status_code": 200,
                    "charge_id": "ch_1",
                    "amount": "59.98",
                    "order_id": 1,
                }
            ]
        }
    )

    idempotency_key: str | None
    status_code: int
    charge_id: str | None = Field(description="None when the card was declined")
    amount: str | None
    order_id: int | None


class RefundRecord(BaseModel):
    """A refund the fake gateway made."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "idempotency_key": "refund-1",
                    "charge_id": "ch_1",
                    "refund_id": "re_1",
                }
            ]
        }
    )

    idempotency_key: str | None
    charge_id: str | None
    refund_id: str


class Payments(BaseModel):
    """Every charge and refund the fake gateway made, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "charges": [
                        {
                            "idempotency_key": "1",
                            "status_code": 200,
                            "charge_id": "ch_1",
                            "amount": "59.98",
                            "order_id": 1,
                        },
                        {
                            "idempotency_key": "2",
                            "status_code": 402,
                            "charge_id": None,
                            "amount": "89.99",
                            "order_id": 2,
                        },
                    ],
                    "refunds": [
                        {
                            "idempotency_key": "refund-1",
                            "charge_id": "ch_1",
                            "refund_id": "re_1",
                        }
                    ],
                }
            ]
        }
    )

    charges: list[ChargeRecord]
    refunds: list[RefundRecord]


class Shipment(BaseModel):
    """A shipment the fake warehouse accepted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": 1,
                    "items": [{"sku": 1, "qty": 2}],
                    "idempotency_key": "order-1-shipment",
                    "shipment_id": "shp_1",
                    "at": "2026-11-24T10:00:00.400000Z",
                }
            ]
        }
    )

    order_id: int | None
    items: list[Any]
    idempotency_key: str | None
    shipment_id: str
    at: datetime
