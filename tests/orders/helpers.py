"""Small builders shared by the orders tests."""

from typing import Any

# The seeded catalogue (app/seed.py): id -> (price, stock)
KEYBOARD = 1
DESK_MAT = 5  # stock 12
SOLD_OUT = 6  # stock 0
PRICES = {1: 89.99, 2: 24.50, 3: 39.95, 4: 249.00, 5: 19.99, 6: 120.00}


def an_order_payload(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /orders`` body; keyword overrides replace top-level fields."""
    payload: dict[str, Any] = {
        "user_id": 42,
        "email": "ada@example.com",
        "items": [{"product_id": DESK_MAT, "quantity": 3, "price": PRICES[DESK_MAT]}],
        "payment_token": "tok_visa",
    }
    payload.update(overrides)
    return payload


def a_line(
    product_id: int, quantity: int = 1, price: float | None = None
) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "quantity": quantity,
        "price": PRICES[product_id] if price is None else price,
    }
