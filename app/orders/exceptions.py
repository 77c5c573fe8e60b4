"""Orders' domain errors (rendered as ``{"detail": ...}`` by app.errors)."""

from fastapi import status

from app.errors import DomainError


class OrderNotFoundError(DomainError):
    """No order has this id."""

    status_code = status.HTTP_404_NOT_FOUND
    detail = "Order not found"


class UnknownProductError(DomainError):
    """A line names a product the catalogue does not have."""

    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    detail = "Unknown product"


class PriceMismatchError(DomainError):
    """A line's price differs from the catalogue's (prices come from the catalogue)."""

    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    detail = "Price of product 1 is 89.99, not 10"


class OutOfStockError(DomainError):
    """Not enough stock left to reserve; raised inside the reservation task, never to HTTP."""

    status_code = status.HTTP_409_CONFLICT
    detail = "Insufficient stock"

    def __init__(self, product_id: int) -> None:
        super().__init__(f"Insufficient stock for product {product_id}")
        self.product_id = product_id
