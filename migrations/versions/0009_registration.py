"""accounts log in with a document type; registration management

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The username becomes (document type, number); every existing account is 居民身份证.
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("id_type", sa.String(length=20), nullable=False, server_default="id_card")
        )
        batch_op.drop_constraint("uq_users_id_number", type_="unique")
        batch_op.create_unique_constraint("uq_users_id_type", ["id_type", "id_number"])
        batch_op.create_index("ix_users_id_number", ["id_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_index("ix_users_id_number")
        batch_op.drop_constraint("uq_users_id_type", type_="unique")
        batch_op.create_unique_constraint("uq_users_id_number", ["id_number"])
        batch_op.drop_column("id_type")
