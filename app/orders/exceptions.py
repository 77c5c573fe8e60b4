"""Orders' domain errors (rendered as ``{"detail": ...}`` by app.errors)."""

from fastapi import status

from app.errors import DomainError


class OrderNotFoundError(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    detail = "Order not found"


class UnknownProductError(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    detail = "Unknown product"


class PriceMismatchError(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    detail = "The price does not match the catalogue"


class OutOfStockError(DomainError):
    """Not enough stock left to reserve; raised inside the reservation task, never to HTTP."""

    status_code = status.HTTP_409_CONFLICT
    detail = "Insufficient stock"

    def __init__(self, product_id: int) -> None:
        super().__init__(f"Insufficient stock for product {product_id}")
        self.product_id = product_id
