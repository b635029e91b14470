"""Whether a learner may sit a batch's exam now, and exactly what is missing."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.exams import paper as papers
from app.exams.models import Attempt, ExamPolicy
from app.exams.policies import get_policy
from app.learning import service as learning
from app.learning.models import Batch, Enrolment


@dataclasses.dataclass
class Eligibility:
    """Everything 我的考试 shows for one batch, and exactly what is missing."""

    batch: Batch
    policy: ExamPolicy | None
    credited_minutes: int
    public_minutes: int
    study_days: int
    attempts: list[Attempt]
    reasons: list[str]

    @property
    def open_attempt(self) -> Attempt | None:
        return next((a for a in self.attempts if a.is_open), None)

    @property
    def passed_attempt(self) -> Attempt | None:
        return next((a for a in self.attempts if a.passed), None)

    @property
    def attempts_used(self) -> int:
        """Chances used: every attempt but those voided under a rule that does not count them."""
        return sum(1 for a in self.attempts if a.uses_attempt)

    @property
    def next_number(self) -> int:
        """The number of the next attempt (voided ones keep theirs)."""
        return len(self.attempts) + 1

    @property
    def can_start(self) -> bool:
        return not self.reasons and self.open_attempt is None

    @property
    def rules(self) -> papers.Rules | None:
        return papers.Rules.from_policy(self.policy) if self.policy else None


async def eligibility(
    *, session: AsyncSession, user_id: int, batch_id: int, now: dt.datetime
) -> Eligibility:
    """Whether a learner may start an exam in a batch now, and if not, why not."""
    enrolled = await session.scalar(
        select(Enrolment.id).where(Enrolment.user_id == user_id, Enrolment.batch_id == batch_id)
    )
    if enrolled is None:
        raise NotFound("您未报名该批次")
    policy = await get_policy(session=session, batch_id=batch_id)
    progress = await learning.batch_progress(session=session, user_id=user_id, batch_id=batch_id)
    batch = progress.batch
    attempts = list(
        await session.scalars(
            select(Attempt)
            .where(Attempt.user_id == user_id, Attempt.batch_id == batch_id)
            .order_by(Attempt.number)
        )
    )
    result = Eligibility(
        batch=batch,
        policy=policy,
        credited_minutes=progress.credited_minutes,
        public_minutes=progress.public_minutes,
        study_days=progress.study_days,
        attempts=attempts,
        reasons=[],
    )
    reasons = result.reasons
    if result.passed_attempt is not None:
        reasons.append("已通过本批次考试")
        return result
    if policy is None:
        reasons.append("本批次尚未安排考试")
        return result
    closed = [a for a in attempts if a.is_closed and a.uses_attempt]
    if len(closed) >= policy.max_attempts:
        reasons.append(f"已用 {len(closed)} 次机会，考试机会已用完，请报名参加后续批次")
        return result
    reasons.extend(learning.study_shortfalls(progress, now=now))
    return result


async def my_exams(*, session: AsyncSession, user_id: int, now: dt.datetime) -> list[Eligibility]:
    """我的考试: one row per batch the learner is enrolled in, newest batch first."""
    batch_ids = await session.scalars(
        select(Enrolment.batch_id)
        .join(Batch, Batch.id == Enrolment.batch_id)
        .where(Enrolment.user_id == user_id)
        .order_by(Batch.exam_opens_at.desc(), Batch.id.desc())
    )
    return [
        await eligibility(session=session, user_id=user_id, batch_id=batch_id, now=now)
        for batch_id in list(batch_ids)
    ]
