"""Question banks and exam policies: which bank a batch draws from, how papers are built."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError
from app.exams import paper as papers
from app.exams.models import ExamPolicy, Question, QuestionBank


async def get_or_create_bank(*, session: AsyncSession, name: str, now: dt.datetime) -> QuestionBank:
    """The bank with this name, created when missing."""
    bank = await session.scalar(select(QuestionBank).where(QuestionBank.name == name))
    if bank is None:
        bank = QuestionBank(name=name, created_at=now)
        session.add(bank)
        await session.flush()
    return bank


async def available_counts(*, session: AsyncSession, bank_id: int) -> dict[str, int]:
    """Active questions per type in a bank."""
    rows = await session.execute(
        select(Question.type, func.count())
        .where(Question.bank_id == bank_id, Question.active.is_(True))
        .group_by(Question.type)
    )
    return {qtype: count for qtype, count in rows}


# ---------------------------------------------------------------------------- policies


async def get_policy(*, session: AsyncSession, batch_id: int) -> ExamPolicy | None:
    """The exam policy of a batch, if one is set."""
    return await session.scalar(select(ExamPolicy).where(ExamPolicy.batch_id == batch_id))


POLICY_FIELDS = {
    "single_count",
    "single_points",
    "multiple_count",
    "multiple_points",
    "judge_count",
    "judge_points",
    "duration_minutes",
    "pass_mark",
    "max_attempts",
    "multiple_all_or_nothing",
    "shuffle_options",
    "disconnect_policy",
    "second_device",
    "focus_warn_at",
    "focus_submit_at",
    "void_uses_attempt",
}


async def set_policy(
    *, session: AsyncSession, batch_id: int, bank_id: int, now: dt.datetime, **fields: object
) -> ExamPolicy:
    """Create or change a batch's policy; refuses values that make no sense."""
    unknown = set(fields) - POLICY_FIELDS
    if unknown:
        raise ValueError(f"unknown policy fields: {sorted(unknown)}")
    policy = await get_policy(session=session, batch_id=batch_id)
    if policy is None:
        policy = ExamPolicy(batch_id=batch_id, bank_id=bank_id, updated_at=now)
        for column in ExamPolicy.__table__.columns:
            if column.name in POLICY_FIELDS:
                setattr(policy, column.name, column.default.arg)
        session.add(policy)
    policy.bank_id = bank_id
    for name, value in fields.items():
        setattr(policy, name, value)
    _check_policy(policy)
    policy.updated_at = now
    await session.flush()
    return policy


def _check_policy(policy: ExamPolicy) -> None:
    counts = (policy.single_count, policy.multiple_count, policy.judge_count)
    if any(c < 0 for c in counts) or sum(counts) == 0:
        raise AppError("bad_policy", "各题型题数不能为负，且试卷至少要有一道题")
    if any(p <= 0 for p in (policy.single_points, policy.multiple_points, policy.judge_points)):
        raise AppError("bad_policy", "每题分值必须大于 0")
    if not 1 <= policy.duration_minutes <= 600:
        raise AppError("bad_policy", "考试时长应在 1 到 600 分钟之间")
    if policy.max_attempts < 1:
        raise AppError("bad_policy", "考试次数至少为 1 次")
    if policy.disconnect_policy not in ("resume", "forfeit"):
        raise AppError("bad_policy", "断线规则只能是“续考”或“作废”")
    if policy.second_device not in ("takeover", "refuse"):
        raise AppError("bad_policy", "多设备规则只能是“接管”或“拒绝”")
    warn, submit = policy.focus_warn_at, policy.focus_submit_at
    if not (0 <= warn <= 100 and 0 <= submit <= 100):
        raise AppError("bad_policy", "离开考试页面的次数规则应在 0 到 100 次之间（0 表示不启用）")
    if warn and submit and warn >= submit:
        raise AppError("bad_policy", "离开页面的提醒次数应小于自动交卷次数")
    total = papers.Rules.from_policy(policy).total_points
    if not 0 < policy.pass_mark <= total:
        raise AppError("bad_policy", f"合格分数应在 0 到试卷总分 {papers.fmt_points(total)} 之间")


async def paper_problems(*, session: AsyncSession, policy: ExamPolicy) -> list[str]:
    """What stops the bank from filling this policy (empty when papers can be drawn)."""
    counts = await available_counts(session=session, bank_id=policy.bank_id)
    return papers.shortfalls(papers.Rules.from_policy(policy), counts)
