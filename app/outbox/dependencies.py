"""``OutboxDep``: the outbox the lifespan built, for routes that schedule deliveries."""

from typing import Annotated

from fastapi import Depends, Request

from app.outbox.delivery import Outbox


async def get_outbox(request: Request) -> Outbox:
    """The outbox built by the lifespan."""
    outbox: Outbox = request.state.outbox
    return outbox


OutboxDep = Annotated[Outbox, Depends(get_outbox)]
