"""registration: what a 逾期初始注册 asks in addition is a rule-set setting; the day each
registration's next dated notice falls due

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 09:00:00

``reg_rule_sets.late_initial_ce_hours``: the continuing-education hours a 逾期初始注册 must
show (48 for both shipped families, app/registration/rules.py PRESETS).
``reg_registrations.next_notice_on``: the day the next dated notice (公告信息) falls due. A
registration in force, or lapsed within the last 30 days, is looked at by the worker's next
run (today), which sets the true day; older lapsed ones are not reminded of any more.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What this migration wrote (its own copy: it must not change after it ran).
LATE_INITIAL_CE_HOURS = {"seed": 48, "2019-intermediate": 48}
NOTE_2019_BEFORE = (
    "取得资格证书后5年内初始注册；注册有效期5年；有效期满前3个月内申请延续注册；"
    "以欺骗等不正当手段取得注册的，5年内不予注册。"
)
NOTE_2019_AFTER = (
    "取得资格证书后5年内初始注册，逾期按逾期初始注册办理；注册有效期5年；有效期满前3个月内"
    "申请延续注册；以欺骗等不正当手段取得注册的，5年内不予注册。"
)


def upgrade() -> None:
    with op.batch_alter_table("reg_rule_sets") as batch_op:
        batch_op.add_column(
            sa.Column("late_initial_ce_hours", sa.Integer(), nullable=False, server_default="0")
        )
    conn = op.get_bind()
    for code, hours in LATE_INITIAL_CE_HOURS.items():
        conn.execute(
            sa.text("UPDATE reg_rule_sets SET late_initial_ce_hours = :h WHERE code = :c"),
            {"h": hours, "c": code},
        )
    conn.execute(
        sa.text("UPDATE reg_rule_sets SET note = :after WHERE code = :c AND note = :before"),
        {"after": NOTE_2019_AFTER, "before": NOTE_2019_BEFORE, "c": "2019-intermediate"},
    )

    with op.batch_alter_table("reg_registrations") as batch_op:
        batch_op.add_column(sa.Column("next_notice_on", sa.Date(), nullable=True))
        batch_op.create_index("ix_reg_registrations_next_notice_on", ["next_notice_on"])
    today = dt.date.today()
    conn.execute(
        sa.text(
            "UPDATE reg_registrations SET next_notice_on = :today "
            "WHERE cancelled = :no AND valid_until >= :since"
        ),
        {"today": today, "no": False, "since": today - dt.timedelta(days=30)},
    )


def downgrade() -> None:
    with op.batch_alter_table("reg_registrations") as batch_op:
        batch_op.drop_index("ix_reg_registrations_next_notice_on")
        batch_op.drop_column("next_notice_on")
    conn = op.get_bind()
    conn.execute(
        sa.text("UPDATE reg_rule_sets SET note = :before WHERE code = :c AND note = :after"),
        {"after": NOTE_2019_AFTER, "before": NOTE_2019_BEFORE, "c": "2019-intermediate"},
    )
    with op.batch_alter_table("reg_rule_sets") as batch_op:
        batch_op.drop_column("late_initial_ce_hours")
