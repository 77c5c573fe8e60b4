"""Reading and writing the database fallback of analytics events."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.analytics.models import AnalyticsEvent
from app.analytics.schemas import TrackedEvent
from app.db import SessionFactory


async def store_events(
    sessions: SessionFactory, events: Sequence[TrackedEvent]
) -> None:
    """Save a whole batch in one transaction: all of its events or none."""
    async with sessions() as session, session.begin():
        session.add_all(
            AnalyticsEvent(
                event=item.event,
                user_id=item.user_id,
                properties=dict(item.properties),
                occurred_at=item.timestamp,
            )
            for item in events
        )


async def list_stored_events(session: AsyncSession, user_id: int) -> list[TrackedEvent]:
    """A user's events from the fallback table, oldest first."""
    rows = await session.scalars(
        select(AnalyticsEvent)
        .where(AnalyticsEvent.user_id == user_id)
        .order_by(AnalyticsEvent.occurred_at, AnalyticsEvent.id)
    )
    return [
        TrackedEvent(
            event=row.event,
            user_id=row.user_id,
            properties=row.properties,
            timestamp=row.occurred_at,
        )
        for row in rows
    ]
