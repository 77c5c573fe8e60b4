"""Create the analytics fallback table (batches the analytics service did not accept).

Revision ID: 0004_analytics
Revises: 0001_orders
Create Date: 2026-11-24 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# 64-bit on PostgreSQL; SQLite keeps INTEGER (its rowid alias, already 64-bit).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0004_analytics"
down_revision: str | Sequence[str] | None = "0001_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_event",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_event")),
    )
    # GET /analytics/events?user_id=N reads one user's rows in time order.
    op.create_index(
        "ix_analytics_event_user_id_occurred_at",
        "analytics_event",
        ["user_id", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_analytics_event_user_id_occurred_at", table_name="analytics_event"
    )
    op.drop_table("analytics_event")
