"""The invigilator's actions: message, extra time, force-submit, void.

Each runs in the caller's unit of work, is audited there (who, when, why) and lands in
the attempt's history (the learner's timeline); the learner's page is told once it has
committed (the exam area's and this area's events). The caller has checked that the
invigilator may act on the session (``assignments.require_access``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.audit import service as audit
from app.errors import AppError, NotFound
from app.exams import attempts, grading, voiding
from app.exams.models import Attempt, ExamSession
from app.exams.statuses import AttemptStatus
from app.invigilation import messages
from app.invigilation.models import Message
from app.lib import http


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts, from where."""

    user: User
    ip: str = ""


async def _attempt_of(
    session: AsyncSession, exam_session: ExamSession, attempt_id: object
) -> Attempt:
    if not http.is_id(attempt_id):
        raise AppError("bad_request", "请选择考生")
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None or attempt.session_id != exam_session.id:
        raise NotFound("该考生本场考试的记录不存在")
    return attempt


async def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    exam_session: ExamSession,
    now: dt.datetime,
    detail: str,
    target: int | None = None,
) -> None:
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.user.id,
        action=action,
        target_user_id=target,
        detail=f"考场：{exam_session.name}；{detail}",
        ip=actor.ip,
    )


async def send_message(
    *,
    session: AsyncSession,
    actor: Actor,
    exam_session: ExamSession,
    user_id: object,
    text: object,
    now: dt.datetime,
) -> Message:
    """Message one learner of the session (``user_id``) or everyone in it (None)."""
    if user_id is not None and not http.is_id(user_id):
        raise AppError("bad_request", "请选择考生")
    message = await messages.send(
        session=session,
        exam_session=exam_session,
        sender=actor.user,
        user_id=user_id,
        text=text,
        now=now,
    )
    scope = "全场考生" if user_id is None else "单个考生"
    await _audit(
        session,
        actor,
        "invigilation.message",
        exam_session,
        now,
        f"发送给{scope}：{message.text}",
        target=user_id,
    )
    return message


@dataclasses.dataclass
class ExtraTime:
    """What an extension did, in words for the invigilator."""

    extended: int
    message: str


async def extend(
    *,
    session: AsyncSession,
    actor: Actor,
    exam_session: ExamSession,
    attempt_id: object,
    minutes: object,
    reason: object,
    now: dt.datetime,
) -> ExtraTime:
    """More time for one attempt in progress, or (``attempt_id`` None) for every attempt of
    the session in progress; never past the exam window's end (capped, and said so)."""
    minutes = attempts.check_minutes(minutes)
    why = voiding.check_reason(reason, what="延长原因")
    if attempt_id is not None:
        attempt = await _attempt_of(session, exam_session, attempt_id)
        done = await attempts.extend_deadline(
            session=session, attempt_id=attempt.id, minutes=minutes, now=now, why=why
        )
        await _audit(
            session,
            actor,
            "invigilation.extend",
            exam_session,
            now,
            f"第 {attempt.number} 次考试{done.message}；原因：{why}",
            target=attempt.user_id,
        )
        return ExtraTime(1, done.message)
    running = list(
        await session.scalars(
            select(Attempt.id).where(
                Attempt.session_id == exam_session.id,
                Attempt.status == AttemptStatus.OPEN,
                Attempt.deadline > now,
            )
        )
    )
    if not running:
        raise AppError("nobody_running", "本考场当前没有正在作答的考生，无需延长时间", 409)
    extended = capped = 0
    for attempt_id_ in running:
        try:
            done = await attempts.extend_deadline(
                session=session, attempt_id=attempt_id_, minutes=minutes, now=now, why=why
            )
        except AppError as error:
            if error.code != "window_end":
                raise
            capped += 1
            continue
        extended += 1
        capped += done.capped
    if not extended:
        raise AppError("window_end", "正在作答的考生均已延长至本批次考试截止时间，不能再延长", 409)
    message = f"已为 {extended} 名正在作答的考生延长 {minutes} 分钟"
    if capped:
        message += f"；其中 {capped} 名考生的截止时间不能晚于本批次考试截止时间，只延长到该时间"
    await _audit(
        session, actor, "invigilation.extend", exam_session, now, f"{message}；原因：{why}"
    )
    return ExtraTime(extended, message)


async def force_submit(
    *,
    session: AsyncSession,
    actor: Actor,
    exam_session: ExamSession,
    attempt_id: object,
    reason: object,
    now: dt.datetime,
) -> grading.Result:
    """End a learner's attempt now, graded with every acknowledged answer."""
    attempt = await _attempt_of(session, exam_session, attempt_id)
    why = voiding.check_reason(reason, what="强制交卷原因")
    result = await grading.force_submit(session=session, attempt_id=attempt.id, now=now, why=why)
    await _audit(
        session,
        actor,
        "invigilation.force_submit",
        exam_session,
        now,
        f"第 {attempt.number} 次考试强制交卷，得分 {result.to_dict()['score_text']}；原因：{why}",
        target=attempt.user_id,
    )
    return result


async def void(
    *,
    session: AsyncSession,
    actor: Actor,
    exam_session: ExamSession,
    attempt_id: object,
    reason: object,
    now: dt.datetime,
) -> grading.Result:
    """Void a learner's attempt (in progress or ended) with a reason."""
    attempt = await _attempt_of(session, exam_session, attempt_id)
    result = await voiding.void_attempt(
        session=session, attempt_id=attempt.id, reason=reason, now=now, actor_id=actor.user.id
    )
    counted = "计入考试次数" if result.uses_attempt else "不计入考试次数"
    await _audit(
        session,
        actor,
        "invigilation.void",
        exam_session,
        now,
        f"第 {attempt.number} 次考试作废（{counted}）；原因：{result.void_reason}",
        target=attempt.user_id,
    )
    return result
