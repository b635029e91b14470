"""batch attention-check settings; exam focus-loss policy and void rule

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(
            sa.Column("attention_checks", sa.Boolean(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("attention_min_minutes", sa.Integer(), nullable=False, server_default="10")
        )
        batch_op.add_column(
            sa.Column("attention_max_minutes", sa.Integer(), nullable=False, server_default="20")
        )
    with op.batch_alter_table("exam_policies") as batch_op:
        batch_op.add_column(
            sa.Column("focus_warn_at", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("focus_submit_at", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("void_uses_attempt", sa.Boolean(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("exam_policies") as batch_op:
        batch_op.drop_column("void_uses_attempt")
        batch_op.drop_column("focus_submit_at")
        batch_op.drop_column("focus_warn_at")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("attention_max_minutes")
        batch_op.drop_column("attention_min_minutes")
        batch_op.drop_column("attention_checks")
