"""accounts log in with a document type; registration management

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "0007"
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
    op.create_table(
        "reg_authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_authorities")),
        sa.UniqueConstraint("name", name=op.f("uq_reg_authorities_name")),
    )
    op.create_table(
        "reg_rule_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("initial_window_months", sa.Integer(), nullable=False),
        sa.Column("validity_months", sa.Integer(), nullable=False),
        sa.Column("renewal_window_months", sa.Integer(), nullable=False),
        sa.Column("ce_hours_per_cycle", sa.Integer(), nullable=False),
        sa.Column("age_limit", sa.Integer(), nullable=False),
        sa.Column("fraud_bar_years", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_rule_sets")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_reg_rule_sets_code")),
    )
    op.create_table(
        "reg_authority_reviewers",
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["reg_authorities.id"],
            name=op.f("fk_reg_authority_reviewers_authority_id_reg_authorities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reg_authority_reviewers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("authority_id", "user_id", name=op.f("pk_reg_authority_reviewers")),
    )
    with op.batch_alter_table("reg_authority_reviewers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reg_authority_reviewers_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "reg_people",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reg_people_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_reg_people")),
    )
    op.create_table(
        "reg_qualifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("id_type", sa.String(length=20), nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("certificate_no", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("qualified_on", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reg_qualifications_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_qualifications")),
        sa.UniqueConstraint("certificate_no", name=op.f("uq_reg_qualifications_certificate_no")),
    )
    with op.batch_alter_table("reg_qualifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reg_qualifications_id_number"), ["id_number"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reg_qualifications_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "reg_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(length=50), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=True),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("employer_name", sa.String(length=200), nullable=False),
        sa.Column("employer_uscc", sa.String(length=18), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("rule_set_id", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("cancelled_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=200), nullable=False),
        sa.Column("fraud", sa.Boolean(), nullable=False),
        sa.Column("issued_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["reg_authorities.id"],
            name=op.f("fk_reg_registrations_authority_id_reg_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["qualification_id"],
            ["reg_qualifications.id"],
            name=op.f("fk_reg_registrations_qualification_id_reg_qualifications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            ["reg_rule_sets.id"],
            name=op.f("fk_reg_registrations_rule_set_id_reg_rule_sets"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reg_registrations_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_registrations")),
        sa.UniqueConstraint("number", name=op.f("uq_reg_registrations_number")),
    )
    with op.batch_alter_table("reg_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_registrations_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reg_registrations_valid_until"), ["valid_until"], unique=False
        )

    op.create_table(
        "reg_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_user_id", sa.Integer(), nullable=True),
        sa.Column("rule_set_id", sa.Integer(), nullable=False),
        sa.Column("qualification_id", sa.Integer(), nullable=True),
        sa.Column("registration_id", sa.Integer(), nullable=True),
        sa.Column("authority_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.Column("submitted_digest", sa.String(length=64), nullable=False),
        sa.Column("return_reasons", sa.Text(), nullable=False),
        sa.Column("final_reason", sa.Text(), nullable=False),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("first_decided_at", app.db.UTCDateTime(), nullable=True),
        sa.Column("final_decided_at", app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["reg_authorities.id"],
            name=op.f("fk_reg_applications_authority_id_reg_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["qualification_id"],
            ["reg_qualifications.id"],
            name=op.f("fk_reg_applications_qualification_id_reg_qualifications"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["reg_registrations.id"],
            name=op.f("fk_reg_applications_registration_id_reg_registrations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_set_id"],
            ["reg_rule_sets.id"],
            name=op.f("fk_reg_applications_rule_set_id_reg_rule_sets"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reg_applications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_applications")),
        sa.UniqueConstraint("open_user_id", name=op.f("uq_reg_applications_open_user_id")),
    )
    with op.batch_alter_table("reg_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reg_applications_authority_id"), ["authority_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reg_applications_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_reg_applications_user_id"), ["user_id"], unique=False)

    op.create_table(
        "reg_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=80), nullable=True),
        sa.Column("created_at", app.db.UTCDateTime(), nullable=False),
        sa.Column("read_at", app.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["reg_applications.id"],
            name=op.f("fk_reg_notices_application_id_reg_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reg_notices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_notices")),
        sa.UniqueConstraint("key", name=op.f("uq_reg_notices_key")),
    )
    with op.batch_alter_table("reg_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reg_notices_user_id"), ["user_id"], unique=False)

    op.create_table(
        "reg_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("form", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["reg_applications.id"],
            name=op.f("fk_reg_submissions_application_id_reg_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_submissions")),
        sa.UniqueConstraint(
            "application_id", "seq", name=op.f("uq_reg_submissions_application_id")
        ),
    )
    op.create_table(
        "reg_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("decided_at", app.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["reg_applications.id"],
            name=op.f("fk_reg_decisions_application_id_reg_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_reg_decisions_reviewer_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["reg_submissions.id"],
            name=op.f("fk_reg_decisions_submission_id_reg_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reg_decisions")),
    )
    with op.batch_alter_table("reg_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reg_decisions_application_id"), ["application_id"], unique=False
        )

    seed_rule_sets()


# The two presets as this migration wrote them (a migration keeps its own copy so that it
# never changes after it ran; app/registration/rules.py PRESETS holds the current values
# with their sources, and tests/registration/test_rules.py checks a migrated database
# carries them).
RULE_SETS = [
    {
        "code": "seed",
        "version": 1,
        "name": "注册安全工程师注册规则（原注册管理系统）",
        "level": "",
        "initial_window_months": 36,
        "validity_months": 36,
        "renewal_window_months": 3,
        "ce_hours_per_cycle": 48,
        "age_limit": 70,
        "fraud_bar_years": 3,
        "note": "取得资格证书后3年内初始注册；注册有效期3年；有效期最后3个月内申请延续注册。",
        "is_current": True,
    },
    {
        "code": "2019-intermediate",
        "version": 1,
        "name": "中级注册安全工程师注册规则（2019年）",
        "level": "中级",
        "initial_window_months": 60,
        "validity_months": 60,
        "renewal_window_months": 3,
        "ce_hours_per_cycle": 48,
        "age_limit": 70,
        "fraud_bar_years": 5,
        "note": "取得资格证书后5年内初始注册；注册有效期5年；有效期满前3个月内申请延续注册；"
        "以欺骗等不正当手段取得注册的，5年内不予注册。",
        "is_current": False,
    },
]


def seed_rule_sets() -> None:
    table = sa.table(
        "reg_rule_sets",
        *(sa.column(name) for name in RULE_SETS[0]),
        sa.column("created_at", app.db.UTCDateTime()),
    )
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(table, [{**row, "created_at": now} for row in RULE_SETS])


def downgrade() -> None:
    with op.batch_alter_table("reg_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_decisions_application_id"))

    op.drop_table("reg_decisions")
    op.drop_table("reg_submissions")
    with op.batch_alter_table("reg_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_notices_user_id"))

    op.drop_table("reg_notices")
    with op.batch_alter_table("reg_applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_applications_user_id"))
        batch_op.drop_index(batch_op.f("ix_reg_applications_status"))
        batch_op.drop_index(batch_op.f("ix_reg_applications_authority_id"))

    op.drop_table("reg_applications")
    with op.batch_alter_table("reg_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_registrations_valid_until"))
        batch_op.drop_index(batch_op.f("ix_reg_registrations_user_id"))

    op.drop_table("reg_registrations")
    with op.batch_alter_table("reg_qualifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_qualifications_user_id"))
        batch_op.drop_index(batch_op.f("ix_reg_qualifications_id_number"))

    op.drop_table("reg_qualifications")
    op.drop_table("reg_people")
    with op.batch_alter_table("reg_authority_reviewers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reg_authority_reviewers_user_id"))

    op.drop_table("reg_authority_reviewers")
    op.drop_table("reg_rule_sets")
    op.drop_table("reg_authorities")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_index("ix_users_id_number")
        batch_op.drop_constraint("uq_users_id_type", type_="unique")
        batch_op.create_unique_constraint("uq_users_id_number", ["id_number"])
        batch_op.drop_column("id_type")
