"""HTTP endpoints of the orders example."""

from fastapi import APIRouter, status

from app.db import SessionDep
from app.errors import UNREADABLE_BODY, error_responses
from app.orders import service
from app.orders.dependencies import ExistingOrder, OrderPipelineDep
from app.orders.exceptions import (
    OrderNotFoundError,
    PriceMismatchError,
    UnknownProductError,
)
from app.orders.models import Order, OrderStatus
from app.orders.schemas import (
    OrderAccepted,
    OrderCreate,
    OrderLineRead,
    OrderRead,
    ProductRead,
)
from app.outbox import service as outbox
from app.outbox.schemas import OutboxEntryRead
from fastapi_tasks import Tasks

router = APIRouter(tags=["orders"])


def _order_read(order: Order, notifications: list[OutboxEntryRead]) -> OrderRead:
    return OrderRead(
        order_id=order.id,
        user_id=order.user_id,
        email=order.email,
        status=OrderStatus(order.status),
        payment_status=order.payment_status,
        inventory_status=order.inventory_status,
        total=order.total,
        items=[
            OrderLineRead(
                product_id=line.product_id,
                quantity=line.quantity,
                price=line.unit_price,
            )
            for line in order.lines
        ],
        notifications=notifications,
    )


@router.get("/products", summary="The product catalogue with available stock")
async def list_products(session: SessionDep) -> list[ProductRead]:
    return [
        ProductRead(
            product_id=product.id,
            name=product.name,
            price=product.price,
            available=product.available,
        )
        for product in await service.list_products(session)
    ]


@router.post(
    "/orders",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Place an order; payment, stock and notifications run as background tasks",
    responses={
        **UNREADABLE_BODY,
        **error_responses(
            UnknownProductError,
            PriceMismatchError,
            invalid="No items, a bad e-mail address, quantity or price",
        ),
    },
)
async def create_order(
    body: OrderCreate,
    session: SessionDep,
    pipeline: OrderPipelineDep,
    tasks: Tasks,
) -> OrderAccepted:
    """Prices come from the catalogue; poll ``GET /orders/{order_id}`` for the outcome."""
    order = await service.create_order(session, body)  # committed: tasks can read it
    pipeline.schedule(tasks, order=order, payment_token=body.payment_token)
    return OrderAccepted(
        order_id=order.id, status=OrderStatus.PROCESSING, total=order.total
    )


@router.get(
    "/orders/{order_id}",  # noqa: FAST003 - read by ExistingOrder's dependency
    summary="An order with its payment and inventory status",
    responses=error_responses(OrderNotFoundError),
)
async def get_order(order: ExistingOrder, session: SessionDep) -> OrderRead:
    messages = await outbox.for_subject(
        session, subject_type="order", subject_id=order.id
    )
    return _order_read(order, [OutboxEntryRead.of(message) for message in messages])
