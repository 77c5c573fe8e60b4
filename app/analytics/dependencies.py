"""``TrackerDep``: the app's event tracker, built by the lifespan, for routes."""

from typing import Annotated

from fastapi import Depends, Request

from app.analytics.tracking import EventTracker


async def get_tracker(request: Request) -> EventTracker:
    """The app's event tracker: the only way examples send analytics."""
    tracker: EventTracker = request.state.tracker
    return tracker


TrackerDep = Annotated[EventTracker, Depends(get_tracker)]
