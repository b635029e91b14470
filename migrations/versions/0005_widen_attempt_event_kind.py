"""widen exam_attempt_events.kind to 40 characters

Migration 0003 was once deployed with String(20), which PostgreSQL enforces: a database
that ran that version keeps the narrow column, and `second_device_refused` (21
characters) then fails to insert. 0003 was later edited to say 40; this migration brings
every database there, whichever 0003 it ran.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("exam_attempt_events") as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=20), type_=sa.String(length=40)
        )


def downgrade() -> None:
    with op.batch_alter_table("exam_attempt_events") as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=40), type_=sa.String(length=20)
        )
