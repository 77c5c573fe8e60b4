"""``GET /outbox``: what the service promised and whether it was delivered (operators)."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.db import SessionDep
from app.outbox import service
from app.outbox.models import OutboxStatus
from app.outbox.schemas import OutboxEntryRead, OutboxRead

router = APIRouter(tags=["operations"])


@router.get(
    "/outbox",
    summary="Promised e-mails, shipments and alerts: counts by state and the newest rows",
)
async def list_outbox(
    session: SessionDep,
    status: Annotated[
        OutboxStatus | None, Query(description="Only rows in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Newest N rows")] = 50,
) -> OutboxRead:
    """Rows never show their payload (addresses, links), only what and how it went."""
    messages = await service.recent(session, limit=limit, status=status)
    return OutboxRead(
        counts={OutboxStatus(k): v for k, v in (await service.counts(session)).items()},
        messages=[OutboxEntryRead.of(message) for message in messages],
    )
