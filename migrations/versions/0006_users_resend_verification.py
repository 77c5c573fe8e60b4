"""Verification resend: when a user's newest link was sent, and revoked older links.

Revision ID: 0006_users_resend
Revises: 0002_users
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_users_resend"
down_revision: str | Sequence[str] | None = "0002_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both columns start NULL: existing unverified users may ask for a new link at once,
    # and their existing links keep working until they do.
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("verification_sent_at", sa.DateTime(), nullable=True)
        )
    with op.batch_alter_table("user_verification_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_verification_token", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("verification_sent_at")
