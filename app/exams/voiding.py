"""Voiding (作废) an attempt: an invigilator's decision that a sitting is not valid.

An open attempt is closed and graded for the record (every acknowledged answer, as any
close) but never passes; an attempt already closed keeps its score and loses its pass.
Whether it still used up one of the learner's attempts follows the batch's rule
(``ExamPolicy.void_uses_attempt``) when it is voided. ``AttemptVoided`` lets the
certificates area revoke a certificate the attempt had earned.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.errors import AppError, NotFound
from app.exams.attempts import record_event
from app.exams.events import AttemptVoided
from app.exams.grading import Result, close_attempts, result_of
from app.exams.models import Attempt
from app.exams.policies import get_policy
from app.exams.statuses import AttemptStatus, EndedBy, EventKind

REASON_MAX = 200


def check_reason(reason: object, *, what: str = "作废原因") -> str:
    """A reason is required (an invigilator's action is audited with its why)."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise AppError("reason_required", f"请填写{what}")
    if len(text) > REASON_MAX:
        raise AppError("reason_too_long", f"{what}不能超过{REASON_MAX}字（现为{len(text)}字）")
    return text


async def void_attempt(
    *,
    session: AsyncSession,
    attempt_id: int,
    reason: str,
    now: dt.datetime,
    actor_id: int | None = None,
) -> Result:
    """Void an attempt, open or closed; a second void is refused and changes nothing."""
    reason = check_reason(reason)
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("考试不存在")
    if attempt.is_voided:
        raise AppError("already_voided", "该次考试已作废，不能重复作废", 409)
    policy = await get_policy(session=session, batch_id=attempt.batch_id)
    uses = policy.void_uses_attempt if policy is not None else True
    was_open = attempt.is_open
    closed = []
    if was_open:
        # Written before the close, so the result (and its chances left) already knows.
        await session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.status == AttemptStatus.OPEN)
            .values(void_reason=reason, uses_attempt=uses)
            .execution_options(synchronize_session=False)
        )
        closed = await close_attempts(
            session=session, now=now, ids=[attempt_id], ended_by=EndedBy.VOIDED
        )
    if not closed:
        # Closed before (or by a racing submit just now): it keeps its score, not its pass.
        await session.refresh(attempt)
        was_open = False
        attempt.ended_by = EndedBy.VOIDED
        attempt.passed = False
        attempt.void_reason = reason
        attempt.uses_attempt = uses
        await record_event(
            session=session,
            attempt_id=attempt.id,
            kind=EventKind.VOIDED,
            now=now,
            detail=f"原因：{reason}",
        )
        await session.flush()
    await session.refresh(attempt)
    events.record(
        session,
        AttemptVoided(
            attempt_id=attempt.id,
            user_id=attempt.user_id,
            session_id=attempt.session_id,
            reason=reason,
            actor_id=actor_id,
            was_open=was_open,
        ),
    )
    return closed[0] if closed else await result_of(session=session, attempt=attempt)
