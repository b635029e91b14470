"""exam sessions, invigilators, messages; attempt session, IP and void columns

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 17:48:40.915653
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exam_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("starts_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("ends_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("everyone", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_exam_sessions_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exam_sessions")),
    )
    with op.batch_alter_table("exam_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exam_sessions_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "exam_session_invigilators",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["exam_sessions.id"],
            name=op.f("fk_exam_session_invigilators_session_id_exam_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_exam_session_invigilators_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "user_id", name=op.f("pk_exam_session_invigilators")),
    )
    with op.batch_alter_table("exam_session_invigilators", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exam_session_invigilators_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "exam_session_learners",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["exam_sessions.id"],
            name=op.f("fk_exam_session_learners_session_id_exam_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_exam_session_learners_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "user_id", name=op.f("pk_exam_session_learners")),
    )
    with op.batch_alter_table("exam_session_learners", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exam_session_learners_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "invigilation_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("sent_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_invigilation_messages_sender_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["exam_sessions.id"],
            name=op.f("fk_invigilation_messages_session_id_exam_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_invigilation_messages_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invigilation_messages")),
    )
    with op.batch_alter_table("invigilation_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invigilation_messages_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "invigilation_message_reads",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("read_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["invigilation_messages.id"],
            name=op.f("fk_invigilation_message_reads_message_id_invigilation_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_invigilation_message_reads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "message_id", "user_id", name=op.f("pk_invigilation_message_reads")
        ),
    )
    with op.batch_alter_table("exam_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("last_ip", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ip_changes", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("void_reason", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("uses_attempt", sa.Boolean(), server_default="1", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_exam_attempts_session_id"), ["session_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_exam_attempts_session_id_exam_sessions"),
            "exam_sessions",
            ["session_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("exam_attempts", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_exam_attempts_session_id_exam_sessions"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_exam_attempts_session_id"))
        batch_op.drop_column("uses_attempt")
        batch_op.drop_column("void_reason")
        batch_op.drop_column("ip_changes")
        batch_op.drop_column("last_ip")
        batch_op.drop_column("session_id")

    op.drop_table("invigilation_message_reads")
    with op.batch_alter_table("invigilation_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invigilation_messages_session_id"))

    op.drop_table("invigilation_messages")
    with op.batch_alter_table("exam_session_learners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exam_session_learners_user_id"))

    op.drop_table("exam_session_learners")
    with op.batch_alter_table("exam_session_invigilators", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exam_session_invigilators_user_id"))

    op.drop_table("exam_session_invigilators")
    with op.batch_alter_table("exam_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exam_sessions_batch_id"))

    op.drop_table("exam_sessions")
