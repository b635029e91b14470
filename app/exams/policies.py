"""Question banks and exam policies: which bank a batch draws from, how papers are built."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.errors import AppError, Invalid
from app.exams import paper as papers
from app.exams.models import (
    Attempt,
    ExamPolicy,
    Question,
    QuestionBank,
    QuestionType,
)
from app.exams.statuses import AttemptStatus


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


# ---------------------------------------------------------------------------- admin edits

POLICY_LABELS = {
    "bank_id": "题库",
    "single_count": "单选题数",
    "single_points": "单选题每题分值",
    "multiple_count": "多选题数",
    "multiple_points": "多选题每题分值",
    "judge_count": "判断题数",
    "judge_points": "判断题每题分值",
    "duration_minutes": "考试时长（分钟）",
    "pass_mark": "合格分数",
    "max_attempts": "考试次数",
    "multiple_all_or_nothing": "多选题全对才得分",
    "shuffle_options": "选项乱序",
    "disconnect_policy": "断线规则",
    "second_device": "多设备规则",
    "focus_warn_at": "离开页面提醒次数",
    "focus_submit_at": "离开页面自动交卷次数",
    "void_uses_attempt": "作废计入考试次数",
}
# What a paper is made of: changing these while papers are being answered would leave
# those learners with a paper that no longer matches the batch's rules.
PAPER_FIELDS = (
    "bank_id",
    "single_count",
    "single_points",
    "multiple_count",
    "multiple_points",
    "judge_count",
    "judge_points",
    "duration_minutes",
    "pass_mark",
    "multiple_all_or_nothing",
    "shuffle_options",
)
COUNT_FIELD = {
    QuestionType.SINGLE: "single_count",
    QuestionType.MULTIPLE: "multiple_count",
    QuestionType.JUDGE: "judge_count",
}


async def open_attempts(*, session: AsyncSession, batch_id: int) -> int:
    """How many papers of a batch are being answered now."""
    return await session.scalar(
        select(func.count(Attempt.id)).where(
            Attempt.batch_id == batch_id, Attempt.status == AttemptStatus.OPEN
        )
    )


async def batches_with_policy(*, session: AsyncSession) -> set[int]:
    """The batches that have an exam policy."""
    return set(await session.scalars(select(ExamPolicy.batch_id)))


def _policy_values(policy: ExamPolicy | None) -> dict[str, object]:
    if policy is None:
        return {}
    return {name: getattr(policy, name) for name in POLICY_LABELS}


async def change_policy(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor,
    batch_id: int,
    bank_id: int,
    fields: dict[str, object],
) -> dict:
    """Set a batch's policy from the admin form: refused (changing nothing) when it makes
    no sense, when the bank cannot fill it, or when it would change papers being answered."""
    policy = await get_policy(session=session, batch_id=batch_id)
    before = _policy_values(policy)
    wanted = {"bank_id": bank_id, **fields}
    if policy is not None:
        changing = [n for n in PAPER_FIELDS if n in wanted and wanted[n] != before[n]]
        running = await open_attempts(session=session, batch_id=batch_id) if changing else 0
        if running:
            names = "、".join(POLICY_LABELS[n] for n in changing)
            raise Invalid(
                {
                    "policy": f"本批次有 {running} 场考试正在进行，修改{names}会使正在答题学员的试卷与规则不一致；"
                    "请在这些考试结束后再修改（考试次数、断线和离开页面等规则可以现在修改）"
                }
            )
    try:
        policy = await set_policy(
            session=session, batch_id=batch_id, bank_id=bank_id, now=now, **fields
        )
    except AppError as error:
        raise Invalid({"policy": error.message}) from None
    counts = await available_counts(session=session, bank_id=bank_id)
    rules = papers.Rules.from_policy(policy)
    problems = {
        COUNT_FIELD[qtype]: message
        for qtype, message in zip(
            [t for t in COUNT_FIELD if rules.counts[t] > counts.get(t, 0)],
            papers.shortfalls(rules, counts),
            strict=True,
        )
    }
    if problems:
        raise Invalid(problems)
    changes = audit.diff(before, _policy_values(policy), POLICY_LABELS)
    if changes:
        await audit.record(
            session=session,
            now=now,
            actor_id=actor.id,
            action="policy.update",
            detail=f"设置考试规则：{rules.summary()}",
            ip=actor.ip,
            changes=changes,
        )
    return changes
