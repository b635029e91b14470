"""Exam sessions (考场/场次): when a batch's learners sit, and which attempt belongs where.

A session lies inside its batch's exam window and takes every learner enrolled in the
batch, or only those listed. An attempt started while a session runs is linked to it
(a listed session wins over an everyone-session; then the earliest start), so the
invigilators of that session see it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import idcard
from app.accounts.models import User
from app.clock import shanghai_text
from app.errors import AppError, Invalid, NotFound
from app.exams.models import Attempt, ExamSession, ExamSessionLearner
from app.learning.models import Batch, Enrolment

NAME_MAX = 100
LISTED_MAX = 5000
SESSION_NOT_FOUND = "考场不存在或已删除"


async def get_session(*, session: AsyncSession, session_id: int) -> ExamSession:
    """One exam session, or NotFound."""
    row = await session.get(ExamSession, session_id)
    if row is None:
        raise NotFound(SESSION_NOT_FOUND)
    return row


def _check_times(batch: Batch, starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if ends_at <= starts_at:
        raise AppError("bad_session_time", "结束时间应晚于开始时间")
    if starts_at < batch.exam_opens_at or ends_at > batch.exam_closes_at:
        raise AppError(
            "bad_session_time",
            f"考场时间应在本批次考试时间内（{shanghai_text(batch.exam_opens_at)} 至 "
            f"{shanghai_text(batch.exam_closes_at)}）",
        )


def check_name(name: str) -> str:
    """A session's name, trimmed, or a Chinese refusal."""
    name = (name or "").strip()
    if not name:
        raise AppError("bad_session_name", "请填写考场名称")
    if len(name) > NAME_MAX:
        raise AppError("bad_session_name", f"考场名称不能超过{NAME_MAX}字")
    return name


async def _listed_users(
    session: AsyncSession, batch_id: int, id_numbers: Sequence[str]
) -> list[int]:
    """The enrolled learners with these ID numbers; refuses any that is not one."""
    wanted = list(dict.fromkeys(idcard.normalise(n) for n in id_numbers if n.strip()))
    if len(wanted) > LISTED_MAX:
        raise AppError("bad_session_learners", f"一个考场最多列出 {LISTED_MAX} 名考生")
    rows = dict(
        (
            await session.execute(
                select(User.id_number, User.id)
                .join(Enrolment, Enrolment.user_id == User.id)
                .where(Enrolment.batch_id == batch_id, User.id_number.in_(wanted))
            )
        ).all()
    )
    missing = [n for n in wanted if n not in rows]
    if missing:
        shown = "、".join(missing[:5]) + ("等" if len(missing) > 5 else "")
        raise AppError(
            "bad_session_learners",
            f"以下身份证号不是本批次报名的学员（共 {len(missing)} 个）：{shown}",
        )
    return [rows[n] for n in wanted]


async def create_session(
    *,
    session: AsyncSession,
    batch_id: int,
    name: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    id_numbers: Sequence[str] = (),
    now: dt.datetime,
) -> ExamSession:
    """A new session of a batch; without ID numbers it takes every enrolled learner. Every
    problem is told at once (Invalid, one message per form field)."""
    batch = await session.get(Batch, batch_id)
    problems: dict[str, str] = {}
    listed: list[int] = []
    if batch is None:
        problems["batch_id"] = "请选择批次"
    try:
        name = check_name(name)
    except AppError as error:
        problems["name"] = error.message
    if batch is not None:
        try:
            _check_times(batch, starts_at, ends_at)
        except AppError as error:
            problems["starts_at"] = error.message
        try:
            listed = await _listed_users(session, batch_id, id_numbers)
        except AppError as error:
            problems["learners"] = error.message
    if problems:
        raise Invalid(problems)
    row = ExamSession(
        batch_id=batch_id,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        everyone=not listed,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    if listed:
        session.add_all(ExamSessionLearner(session_id=row.id, user_id=u) for u in listed)
        await session.flush()
    return row


async def delete_session(*, session: AsyncSession, session_id: int) -> ExamSession:
    """Delete a session nobody has sat in yet."""
    row = await get_session(session=session, session_id=session_id)
    used = await session.scalar(select(func.count(Attempt.id)).where(Attempt.session_id == row.id))
    if used:
        raise AppError("session_in_use", f"该考场已有 {used} 次考试记录，不能删除", 409)
    await session.execute(delete(ExamSessionLearner).where(ExamSessionLearner.session_id == row.id))
    await session.delete(row)
    await session.flush()
    return row


@dataclasses.dataclass
class SessionRow:
    """A session with its batch name and how many learners sit in it."""

    exam_session: ExamSession
    batch_name: str
    learners: int
    attempts: int


async def list_sessions(
    *, session: AsyncSession, ids: Iterable[int] | None = None
) -> list[SessionRow]:
    """Sessions (all, or these), latest start first, with their counts."""
    query = select(ExamSession, Batch.name).join(Batch, Batch.id == ExamSession.batch_id)
    if ids is not None:
        query = query.where(ExamSession.id.in_(list(ids)))
    rows = list(await session.execute(query.order_by(ExamSession.starts_at.desc(), ExamSession.id)))
    if not rows:
        return []
    listed = dict(
        (
            await session.execute(
                select(ExamSessionLearner.session_id, func.count()).group_by(
                    ExamSessionLearner.session_id
                )
            )
        ).all()
    )
    enrolled = dict(
        (
            await session.execute(
                select(Enrolment.batch_id, func.count()).group_by(Enrolment.batch_id)
            )
        ).all()
    )
    attempts = dict(
        (
            await session.execute(
                select(Attempt.session_id, func.count())
                .where(Attempt.session_id.in_([s.id for s, _ in rows]))
                .group_by(Attempt.session_id)
            )
        ).all()
    )
    return [
        SessionRow(
            exam_session=s,
            batch_name=name,
            learners=enrolled.get(s.batch_id, 0) if s.everyone else listed.get(s.id, 0),
            attempts=attempts.get(s.id, 0),
        )
        for s, name in rows
    ]


def _member_filter(exam_session: ExamSession):
    """A condition on User.id: the learners who sit in this session, or whose attempt is
    linked to it (correlated EXISTS: each uses an index when the users are few)."""
    if exam_session.everyone:
        listed = exists().where(
            Enrolment.user_id == User.id, Enrolment.batch_id == exam_session.batch_id
        )
    else:
        listed = exists().where(
            ExamSessionLearner.user_id == User.id,
            ExamSessionLearner.session_id == exam_session.id,
        )
    linked = exists().where(Attempt.user_id == User.id, Attempt.session_id == exam_session.id)
    return or_(listed, linked)


async def members(
    *, session: AsyncSession, exam_session: ExamSession, user_ids: Iterable[int] | None = None
) -> list:
    """The learners of a session (or those of them among ``user_ids``), by name: rows of
    (id, name, id_number, photo_file)."""
    query = select(User.id, User.name, User.id_number, User.photo_file).where(
        _member_filter(exam_session)
    )
    if user_ids is not None:
        query = query.where(User.id.in_(list(user_ids)))
    return list(await session.execute(query.order_by(User.name, User.id)))


async def is_member(*, session: AsyncSession, exam_session: ExamSession, user_id: int) -> bool:
    """Whether a learner sits in (or has an attempt in) a session."""
    return bool(await members(session=session, exam_session=exam_session, user_ids=[user_id]))


async def running_session_for(
    *, session: AsyncSession, user_id: int, batch_id: int, now: dt.datetime
) -> int | None:
    """The session a learner sits in now: one that lists them, else an everyone-session."""
    listed = select(ExamSessionLearner.session_id).where(ExamSessionLearner.user_id == user_id)
    rows = list(
        await session.execute(
            select(ExamSession.id, ExamSession.everyone)
            .where(
                ExamSession.batch_id == batch_id,
                ExamSession.starts_at <= now,
                ExamSession.ends_at > now,
                or_(ExamSession.everyone.is_(True), ExamSession.id.in_(listed)),
            )
            .order_by(ExamSession.starts_at, ExamSession.id)
        )
    )
    rows.sort(key=lambda r: r.everyone)  # stable: listed sessions first, then by start
    return rows[0].id if rows else None


async def exam_batches(*, session: AsyncSession) -> list[Batch]:
    """Batches with their exam windows, latest window first (for the session form)."""
    return list(
        await session.scalars(select(Batch).order_by(Batch.exam_opens_at.desc(), Batch.id.desc()))
    )


async def batch_name_of(*, session: AsyncSession, exam_session: ExamSession) -> str:
    """The name of a session's batch."""
    return await session.scalar(select(Batch.name).where(Batch.id == exam_session.batch_id)) or ""
