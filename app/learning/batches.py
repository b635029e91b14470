"""Programme batches for administrators: creating, editing, closing, and enrolments.

Every change is checked as a whole (each problem reported against its field) and written
to the audit log in the same unit of work, with the values before and after.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import idcard
from app.accounts.models import Role, User, UserRole
from app.audit import service as audit
from app.clock import local_date
from app.errors import AppError, Invalid, NotFound
from app.learning.models import Batch, Course, Enrolment

# The 学时 tiers: 1 学时 = 40 minutes; half of the hours are 公共课 by custom.
TIERS = {16: (640, 320), 32: (1280, 640), 48: (1920, 960)}
# The exam must open within this many days of the study deadline: hours studied longer ago
# than that no longer describe what the engineer knows (the centre's rule).
EXAM_AFTER_STUDY_MAX_DAYS = 90
ATTENTION_RANGE = (1, 120)
LABELS = {
    "name": "批次名称",
    "required_minutes": "应学总时长（分钟）",
    "required_public_minutes": "公共课应学时长（分钟）",
    "min_study_days": "最少学习天数",
    "study_deadline": "学习截止时间",
    "exam_opens_at": "考试开始时间",
    "exam_closes_at": "考试结束时间",
    "attention_checks": "防挂机验证",
    "attention_min_minutes": "防挂机最短间隔（分钟）",
    "attention_max_minutes": "防挂机最长间隔（分钟）",
}


@dataclasses.dataclass
class BatchInput:
    """What the batch form submits, already typed."""

    name: str
    required_minutes: int
    required_public_minutes: int
    min_study_days: int
    study_deadline: dt.datetime | None
    exam_opens_at: dt.datetime | None
    exam_closes_at: dt.datetime | None
    attention_checks: bool = True
    attention_min_minutes: int = 10
    attention_max_minutes: int = 20

    def values(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _values(batch: Batch) -> dict[str, object]:
    return {name: getattr(batch, name) for name in LABELS}


def check(values: BatchInput, *, now: dt.datetime, batch: Batch | None = None) -> dict[str, str]:
    """The problems of a batch's settings, per field (empty when they make sense)."""
    errors: dict[str, str] = {}
    if values.required_public_minutes > values.required_minutes:
        errors["required_public_minutes"] = "公共课应学时长不能超过应学总时长"
    low, high = values.attention_min_minutes, values.attention_max_minutes
    if low > high:
        errors["attention_max_minutes"] = "防挂机最长间隔不能小于最短间隔"
    deadline, opens, closes = values.study_deadline, values.exam_opens_at, values.exam_closes_at
    if deadline is None or opens is None or closes is None:
        return errors
    changed = batch is None or batch.study_deadline != deadline
    if changed and deadline <= now:
        errors["study_deadline"] = "学习截止时间必须晚于现在"
    elif changed or batch.min_study_days != values.min_study_days:
        days = (local_date(deadline) - local_date(now)).days + 1
        if values.min_study_days > days:
            errors["study_deadline"] = (
                f"距学习截止只有 {days} 天，学员无法达到最少学习天数 {values.min_study_days} 天"
            )
    if closes <= opens:
        errors["exam_closes_at"] = "考试结束时间必须晚于考试开始时间"
    elif closes < deadline:
        errors["exam_closes_at"] = (
            "考试结束时间不能早于学习截止时间，否则按期学完的学员无法参加考试"
        )
    elif opens > deadline + dt.timedelta(days=EXAM_AFTER_STUDY_MAX_DAYS):
        errors["exam_opens_at"] = f"考试最晚应在学习截止后 {EXAM_AFTER_STUDY_MAX_DAYS} 天内开始"
    elif (batch is None or batch.exam_closes_at != closes) and closes <= now:
        errors["exam_closes_at"] = "考试结束时间必须晚于现在"
    else:
        earliest = now + dt.timedelta(days=max(0, values.min_study_days - 1))
        if changed and closes < earliest:
            errors["exam_closes_at"] = (
                f"学员至少要学习 {values.min_study_days} 天，考试结束时间应晚于此"
            )
    return errors


async def _name_taken(session: AsyncSession, name: str, batch_id: int | None) -> bool:
    found = await session.scalar(select(Batch.id).where(Batch.name == name))
    return found is not None and found != batch_id


async def create(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, values: BatchInput
) -> Batch:
    """A new batch, or Invalid with what is wrong with each field."""
    errors = check(values, now=now)
    if await _name_taken(session, values.name, None):
        errors["name"] = f"已有名为《{values.name}》的批次"
    if errors:
        raise Invalid(errors)
    batch = Batch(**values.values(), created_at=now)
    session.add(batch)
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="batch.create",
        detail=f"新建批次《{batch.name}》",
        ip=actor.ip,
    )
    return batch


async def update(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, batch: Batch, values: BatchInput
) -> dict:
    """Change a batch's settings; returns what changed (label -> (before, after))."""
    errors = check(values, now=now, batch=batch)
    if await _name_taken(session, values.name, batch.id):
        errors["name"] = f"已有名为《{values.name}》的批次"
    if errors:
        raise Invalid(errors)
    changes = audit.diff(_values(batch), values.values(), LABELS)
    if not changes:
        return {}
    for name, value in values.values().items():
        setattr(batch, name, value)
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="batch.update",
        detail=f"修改批次《{batch.name}》：{'、'.join(changes)}",
        ip=actor.ip,
        changes=changes,
    )
    return changes


async def get(*, session: AsyncSession, batch_id: int) -> Batch:
    """The batch, or a Chinese 404."""
    batch = await session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("培训批次不存在")
    return batch


async def close(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor: audit.Actor,
    batch: Batch,
    open_attempts: int,
) -> None:
    """End a batch now: study and exams stop, no more enrolments. Not while papers are open."""
    if batch.closed_at is not None:
        raise AppError("batch_closed", "该批次已结束")
    if open_attempts:
        raise AppError(
            "attempts_open", f"本批次有 {open_attempts} 场考试正在进行，请在考试结束后再结束批次"
        )
    before = _values(batch)
    batch.closed_at = now
    batch.study_deadline = min(batch.study_deadline, now)
    batch.exam_closes_at = min(batch.exam_closes_at, now)
    batch.exam_opens_at = min(batch.exam_opens_at, batch.exam_closes_at)
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="batch.close",
        detail=f"结束批次《{batch.name}》：停止计学时和考试，不再接受报名",
        ip=actor.ip,
        changes=audit.diff(before, _values(batch), LABELS),
    )


async def reopen(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, batch: Batch
) -> None:
    """Open a closed batch again; its dates are then set on the edit form."""
    if batch.closed_at is None:
        raise AppError("batch_open", "该批次未结束")
    batch.closed_at = None
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="batch.reopen",
        detail=f"重新开放批次《{batch.name}》，请设置新的学习截止和考试时间",
        ip=actor.ip,
    )


@dataclasses.dataclass
class BatchRow:
    batch: Batch
    learners: int
    courses: int


async def get_all(*, session: AsyncSession, include_closed: bool = True) -> list[BatchRow]:
    """Every batch with its learner and course counts, open ones first, newest first."""
    learners = (
        select(Enrolment.batch_id, func.count().label("n")).group_by(Enrolment.batch_id).subquery()
    )
    courses = select(Course.batch_id, func.count().label("n")).group_by(Course.batch_id).subquery()
    query = (
        select(Batch, func.coalesce(learners.c.n, 0), func.coalesce(courses.c.n, 0))
        .outerjoin(learners, learners.c.batch_id == Batch.id)
        .outerjoin(courses, courses.c.batch_id == Batch.id)
        .order_by(Batch.closed_at.is_not(None), Batch.id.desc())
    )
    if not include_closed:
        query = query.where(Batch.closed_at.is_(None))
    return [BatchRow(b, n, c) for b, n, c in await session.execute(query)]


# ---------------------------------------------------------------------------- enrolments


@dataclasses.dataclass
class EnrolReport:
    """What enrolling a list of ID numbers did, line by line."""

    enrolled: list[str] = dataclasses.field(default_factory=list)
    already: list[str] = dataclasses.field(default_factory=list)
    errors: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)


def _open_for_enrolment(batch: Batch) -> None:
    if batch.closed_at is not None:
        raise AppError("batch_closed", f"批次《{batch.name}》已结束，不能再报名")


async def enrol(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, batch: Batch, user: User
) -> bool:
    """Enrol one account in a batch (adding the learner role); False if already enrolled."""
    _open_for_enrolment(batch)
    found = await session.scalar(
        select(Enrolment.id).where(Enrolment.user_id == user.id, Enrolment.batch_id == batch.id)
    )
    if found is not None:
        return False
    if not user.has_role(Role.LEARNER):
        session.add(UserRole(user_id=user.id, role=Role.LEARNER))
    session.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=now))
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="enrolment.add",
        target_user_id=user.id,
        detail=f"报名《{batch.name}》",
        ip=actor.ip,
    )
    return True


MAX_LINES = 2000


async def enrol_many(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, batch: Batch, text: str
) -> EnrolReport:
    """Enrol the accounts whose ID numbers are listed, one per line; report every line."""
    _open_for_enrolment(batch)
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise Invalid({"id_numbers": "请输入要报名的学员身份证号，每行一个"})
    if len(lines) > MAX_LINES:
        raise Invalid({"id_numbers": f"一次最多报名 {MAX_LINES} 人，人数更多请使用“导入学员”"})
    report = EnrolReport()
    parsed: dict[str, int] = {}
    for number, line in lines:
        token = line.split()[0].replace(",", "").replace("，", "")
        try:
            value = idcard.parse(token, today=local_date(now)).value
        except AppError as error:
            report.errors.append((number, line, error.message))
            continue
        parsed.setdefault(value, number)
    users = {
        u.id_number: u
        for u in await session.scalars(select(User).where(User.id_number.in_(parsed)))
    }
    for value, number in parsed.items():
        user = users.get(value)
        if user is None:
            report.errors.append((number, value, "系统中没有该身份证号的账号，请先新建学员"))
        elif await enrol(session=session, now=now, actor=actor, batch=batch, user=user):
            report.enrolled.append(f"{user.name}（{value}）")
        else:
            report.already.append(f"{user.name}（{value}）")
    report.errors.sort()
    return report


async def move(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor: audit.Actor,
    user: User,
    source: Batch,
    target: Batch,
    attempts_in_source: int,
) -> None:
    """Move a learner's enrolment to another batch. Study done in the old batch stays
    there (each batch's hours are earned in it); a learner who has sat the old batch's
    exam keeps those records there and cannot be moved."""
    enrolment = await session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.batch_id == source.id)
    )
    if enrolment is None:
        raise AppError("not_enrolled", f"该学员未报名《{source.name}》")
    if target.id == source.id:
        raise Invalid({"target": "请选择另一个批次"})
    if target.closed_at is not None:
        raise Invalid({"target": f"批次《{target.name}》已结束，不能转入"})
    if attempts_in_source:
        raise Invalid(
            {"target": f"该学员已在《{source.name}》参加过 {attempts_in_source} 次考试，不能转批次"}
        )
    already = await session.scalar(
        select(Enrolment.id).where(Enrolment.user_id == user.id, Enrolment.batch_id == target.id)
    )
    if already is not None:
        raise Invalid({"target": f"该学员已报名《{target.name}》"})
    enrolment.batch_id = target.id
    enrolment.enrolled_at = now
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="enrolment.move",
        target_user_id=user.id,
        detail=f"由《{source.name}》转入《{target.name}》（原批次的学习记录保留在原批次）",
        ip=actor.ip,
    )
