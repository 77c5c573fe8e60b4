"""Create users and their e-mail verification tokens.

Revision ID: 0002_users
Revises: 0001_orders
Create Date: 2026-11-24 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# 64-bit on PostgreSQL; SQLite keeps INTEGER (its rowid alias, already 64-bit).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0002_users"
down_revision: str | Sequence[str] | None = "0001_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_normalized", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        # Case-insensitive uniqueness lives in the database: concurrent
        # registrations of Ada@x.com and ada@x.com cannot both commit.
        sa.UniqueConstraint("email_normalized", name=op.f("uq_user_email_normalized")),
    )
    op.create_table(
        "user_verification_token",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_user_verification_token_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_verification_token")),
        sa.UniqueConstraint(
            "token_hash", name=op.f("uq_user_verification_token_token_hash")
        ),
    )
    with op.batch_alter_table("user_verification_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_verification_token_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("user_verification_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_verification_token_user_id"))

    op.drop_table("user_verification_token")
    op.drop_table("user")
