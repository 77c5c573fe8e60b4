"""HTTP endpoints of analytics: track an event, read the fallback table, counters."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.analytics import service
from app.analytics.dependencies import TrackerDep
from app.analytics.exceptions import AnalyticsOverloadedError
from app.analytics.schemas import (
    MAX_USER_ID,
    AnalyticsStats,
    EventCreate,
    TrackAccepted,
    TrackedEvent,
)
from app.analytics.tracking import TrackerOverloadedError
from app.db import SessionDep
from app.errors import UNREADABLE_BODY, error_responses

router = APIRouter(tags=["analytics"])


@router.post(
    "/track",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Track an event (buffered per user, sent in batches)",
    responses={**UNREADABLE_BODY, **error_responses(AnalyticsOverloadedError)},
)
async def track_event(body: EventCreate, tracker: TrackerDep) -> TrackAccepted:
    """Buffer the event with a server-side UTC timestamp; it leaves memory with its
    user's batch (10 events, a few seconds, memory pressure or shutdown), delivered
    to the analytics service or, if that fails, stored in the database."""
    try:
        # Synchronous and non-blocking: a due batch is handed to a background task.
        tracker.enqueue(
            event=body.event, user_id=body.user_id, properties=body.properties
        )
    except TrackerOverloadedError:
        raise AnalyticsOverloadedError(tracker.retry_after_s) from None
    return TrackAccepted()


@router.get(
    "/analytics/events",
    summary="Events saved in the database fallback for one user, oldest first",
)
async def list_stored_events(
    session: SessionDep,
    user_id: Annotated[
        int,
        Query(gt=0, le=MAX_USER_ID, description="The user whose events to list"),
    ],
) -> list[TrackedEvent]:
    """What the analytics service did not accept and the database kept instead."""
    return await service.list_stored_events(session, user_id)


@router.get(
    "/analytics/stats", summary="Tracker counters: sent, delivered, stored, lost"
)
async def get_analytics_stats(tracker: TrackerDep) -> AnalyticsStats:
    """Since start: sent = delivered + stored + lost + buffered + in_flight."""
    return tracker.stats()


@router.post(
    "/analytics/flush",
    summary="Send every buffered event now and wait until each batch settled",
)
async def flush_analytics(tracker: TrackerDep) -> AnalyticsStats:
    """For operators (before maintenance) and tests: empties the buffers without waiting
    for the age limit; returns the counters once every batch was delivered, stored or
    given up on."""
    await tracker.flush()
    return tracker.stats()
