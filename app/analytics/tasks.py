"""Delivering one batch: the analytics service, else the database, else an alert."""

import logging
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Any

from app.analytics.schemas import TrackedEvent

logger = logging.getLogger("app.analytics")

SendBatch = Callable[[list[dict[str, Any]]], Awaitable[object]]
"""POSTs ``{"events": [...]}`` to the analytics service; raises when it is not accepted."""

StoreBatch = Callable[[Sequence[TrackedEvent]], Awaitable[None]]
"""Saves the events in the fallback table in one transaction; raises on failure."""

SendAlert = Callable[[str], Awaitable[object]]
"""Posts a text to the alerts webhook."""


class DeliveryOutcome(StrEnum):
    """Where a batch ended up."""

    DELIVERED = "delivered"
    STORED = "stored"
    LOST = "lost"


async def deliver_batch(
    *,
    user_id: int,
    events: Sequence[TrackedEvent],
    send: SendBatch,
    store: StoreBatch,
    alert: SendAlert,
) -> DeliveryOutcome:
    """Send one user's batch; fall back to the database; alert once if both fail.

    Never raises (except cancellation): the outcome says what happened. Logs carry the
    user id, the count and exception types, never event properties.
    """
    count = len(events)
    try:
        await send([item.to_payload() for item in events])
    except Exception as send_error:
        send_failure = type(send_error).__name__
        logger.warning(
            "analytics batch not delivered (user %s, %d events, %s); storing it",
            user_id,
            count,
            send_failure,
        )
    else:
        return DeliveryOutcome.DELIVERED

    try:
        await store(events)
    except Exception as store_error:
        logger.error(
            "analytics batch lost (user %s, %d events): service %s, database %s",
            user_id,
            count,
            send_failure,
            type(store_error).__name__,
        )
        text = (
            f"Analytics: lost {count} events of user {user_id}. The analytics service "
            f"failed ({send_failure}) and saving them to the database "
            f"failed too ({type(store_error).__name__})."
        )
        try:
            await alert(text)
        except Exception as alert_error:
            logger.error(
                "alert about %d lost analytics events failed (%s)",
                count,
                type(alert_error).__name__,
            )
        return DeliveryOutcome.LOST
    return DeliveryOutcome.STORED
