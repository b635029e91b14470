"""registration: what a 逾期初始注册 asks in addition is a rule-set setting

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 09:00:00

``reg_rule_sets.late_initial_ce_hours``: the continuing-education hours a 逾期初始注册 must
show (48 for both shipped families, app/registration/rules.py PRESETS).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
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


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text("UPDATE reg_rule_sets SET note = :before WHERE code = :c AND note = :after"),
        {"after": NOTE_2019_AFTER, "before": NOTE_2019_BEFORE, "c": "2019-intermediate"},
    )
    with op.batch_alter_table("reg_rule_sets") as batch_op:
        batch_op.drop_column("late_initial_ce_hours")
