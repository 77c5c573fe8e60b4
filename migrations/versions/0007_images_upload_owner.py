"""Images: which app run owns an upload in progress (startup recovery spares live workers).

Revision ID: 0007_images_owner
Revises: 0003_images
Create Date: 2026-11-30 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_images_owner"
down_revision: str | Sequence[str] | None = "0003_images"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for existing rows: no owner means "a run from before owners", recovered as before.
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("image", schema=None) as batch_op:
        batch_op.drop_column("owner")
