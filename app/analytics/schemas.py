"""Request and response bodies of the analytics endpoints, and the batch event shape."""

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    field_serializer,
)

from app.text_input import NUL_FREE_PATTERN, Text, refuse_unstorable_json


def _reject_non_finite(value: JsonValue) -> None:
    # Python's JSON parser accepts NaN and Infinity, but they are not JSON: the batch
    # could never be sent (httpx refuses them), so they are refused at the door.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("properties must be JSON: NaN and Infinity are not allowed")
    if isinstance(value, dict):
        for item in value.values():
            _reject_non_finite(item)
    elif isinstance(value, list):
        for item in value:
            _reject_non_finite(item)


def finite_properties(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """Validator: a JSON object without NaN or Infinity anywhere inside, and whose every
    string and key can be stored and sent (no NUL, no lone surrogate)."""
    _reject_non_finite(value)
    refuse_unstorable_json(value)
    return value


Properties = Annotated[
    dict[str, JsonValue],
    AfterValidator(finite_properties),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": NUL_FREE_PATTERN},
            "additionalProperties": {},
            "description": "Free-form JSON object; no string or key inside it, at any "
            "depth, may contain NUL (\\u0000) or a lone surrogate",
        }
    ),
]

# Largest id a SQLite INTEGER holds; larger ones could never be stored or looked up.
MAX_USER_ID = 2**63 - 1


class EventCreate(BaseModel):
    """One event to track; the server adds the timestamp."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "event": "page_view",
                    "user_id": 42,
                    "properties": {"path": "/products", "referrer": "newsletter"},
                }
            ]
        },
    )

    event: Text = Field(min_length=1, max_length=200, description="Event name")
    user_id: int = Field(
        gt=0,
        lt=MAX_USER_ID + 1,  # see app.orders.schemas.ID_BOUND
        description="Who did it (not checked against users)",
    )
    properties: Properties = Field(default_factory=dict)


class TrackAccepted(BaseModel):
    """The event is buffered; it will be sent with its user's next batch."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "tracked"}]})

    status: Literal["tracked"] = "tracked"


class TrackedEvent(BaseModel):
    """An event as sent to the analytics service and as stored in the fallback table."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "event": "page_view",
                    "user_id": 42,
                    "properties": {"path": "/products"},
                    "timestamp": "2025-01-31T12:00:00.123456Z",
                }
            ]
        },
    )

    event: str
    user_id: int
    properties: Properties
    timestamp: datetime = Field(description="When the server received it (UTC)")

    @field_serializer("timestamp")
    def _iso_utc(self, value: datetime) -> str:
        # Fixed width (microseconds always present), so the strings sort like the times.
        return (
            value.astimezone(UTC)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z")
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON object of one event in a batch (ISO 8601 UTC timestamp)."""
        return self.model_dump(mode="json")


class AnalyticsStats(BaseModel):
    """Counters since start; sent = delivered + stored + lost + buffered + in_flight."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sent": 25,
                    "delivered": 20,
                    "stored": 5,
                    "lost": 0,
                    "rejected": 0,
                    "buffered": 0,
                    "in_flight": 0,
                    "batches_delivered": 2,
                    "batches_stored": 1,
                    "batches_lost": 0,
                    "capacity": 10000,
                }
            ]
        }
    )

    sent: int = Field(description="Events accepted by the tracker")
    delivered: int = Field(description="Events the analytics service accepted")
    stored: int = Field(description="Events saved in the database fallback")
    lost: int = Field(description="Events neither delivered nor stored (alerted)")
    rejected: int = Field(description="Events refused because memory was full")
    buffered: int = Field(description="Events waiting in per-user buffers")
    in_flight: int = Field(description="Events in batches being sent or stored")
    batches_delivered: int
    batches_stored: int
    batches_lost: int
    capacity: int = Field(description="Most events held in memory at once")
