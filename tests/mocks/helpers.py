"""Talking to the fakes over HTTP, as the app's shared client does."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from app.config import Settings
from app.mocks import FakeServices, build_router

PAYMENTS = "https://payments.mock"
EMAIL = "https://email.mock"
WAREHOUSE = "https://warehouse.mock"
ALERTS = "https://alerts.mock"
ANALYTICS = "https://analytics.mock"


@asynccontextmanager
async def talking_to(
    fakes: FakeServices, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests are answered by ``fakes``, like the app's shared client."""
    router = build_router(fakes, settings)
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(router.async_handler)
    ) as http:
        yield http


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def a_mail(to: str = "ada@example.com") -> dict[str, object]:
    return {"to": to, "subject": "Hi", "template": "welcome", "data": {"n": 1}}


def a_charge(order_id: int = 1, token: str = "tok_visa") -> dict[str, object]:
    return {
        "amount": "59.98",
        "currency": "USD",
        "token": token,
        "metadata": {"order_id": order_id},
    }
