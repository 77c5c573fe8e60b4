"""Path dependencies of the orders router."""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.db import SessionDep
from app.orders import service
from app.orders.models import Order
from app.orders.pipeline import OrderPipeline
from app.orders.schemas import MAX_ID


async def valid_order_id(
    order_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The order's id")],
    session: SessionDep,
) -> Order:
    """The order named in the path, with its lines; 404 if there is none."""
    return await service.get_order(session, order_id)


ExistingOrder = Annotated[Order, Depends(valid_order_id)]


async def get_order_pipeline(request: Request) -> OrderPipeline:
    """The order pipeline built by the lifespan."""
    pipeline: OrderPipeline = request.state.orders
    return pipeline


OrderPipelineDep = Annotated[OrderPipeline, Depends(get_order_pipeline)]
