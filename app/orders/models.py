"""Products, orders and order lines. Money is stored as integer cents, read as Decimal."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.db import Base, BigId, UTCDateTime, utcnow

CENT = Decimal("0.01")


class Money(TypeDecorator[Decimal]):
    """A Decimal amount with two places, stored exactly as integer cents."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:  # noqa: ARG002
        if value is None:
            return None
        if value.quantize(CENT) != value:
            raise ValueError(f"{value} has more than two decimal places")
        return int(value * 100)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:  # noqa: ARG002
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENT)


class OrderStatus(StrEnum):
    PROCESSING = "processing"
    CONFIRMED = "confirmed"
    PAYMENT_FAILED = "payment_failed"
    INVENTORY_FAILED = "inventory_failed"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class InventoryStatus(StrEnum):
    PENDING = "pending"
    RESERVED = "reserved"
    FAILED = "failed"
    RELEASED = "released"


class Product(Base):
    """A catalogue entry; ``reserved`` never exceeds ``stock`` (checked by the database too)."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint(
            "reserved >= 0 AND reserved <= stock", name="reserved_within_stock"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column("price_cents", Money)
    stock: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def available(self) -> int:
        return self.stock - self.reserved


class Order(Base):
    __tablename__ = "order"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, index=True)
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PROCESSING)
    payment_status: Mapped[str] = mapped_column(
        String(20), default=PaymentStatus.PENDING
    )
    inventory_status: Mapped[str] = mapped_column(
        String(20), default=InventoryStatus.PENDING
    )
    total: Mapped[Decimal] = mapped_column("total_cents", Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    charge_id: Mapped[str | None] = mapped_column(String(100), default=None)
    failure_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order",
        lazy="raise",
        cascade="all, delete-orphan",
        order_by="OrderLine.id",
    )


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("order.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("product.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column("unit_price_cents", Money)

    order: Mapped[Order] = relationship(back_populates="lines", lazy="raise")
