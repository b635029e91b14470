"""administration: closing batches, course copies, video posters, audit changes, completion index

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch_op:
        batch_op.add_column(sa.Column("closed_at", app.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("courses") as batch_op:
        batch_op.add_column(sa.Column("origin_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_courses_origin_id"), ["origin_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_courses_origin_id_courses"),
            "courses",
            ["origin_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("videos") as batch_op:
        batch_op.add_column(sa.Column("poster", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("size_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("changes", sa.Text(), nullable=True))
    op.create_index(
        "ix_video_progress_completed",
        "video_progress",
        ["video_id", "user_id"],
        unique=False,
        sqlite_where=sa.text("completed_at IS NOT NULL"),
        postgresql_where=sa.text("completed_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_video_progress_completed", table_name="video_progress")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("changes")
    with op.batch_alter_table("videos") as batch_op:
        batch_op.drop_column("size_bytes")
        batch_op.drop_column("poster")
    with op.batch_alter_table("courses") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_courses_origin_id_courses"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_courses_origin_id"))
        batch_op.drop_column("origin_id")
    with op.batch_alter_table("batches") as batch_op:
        batch_op.drop_column("closed_at")
