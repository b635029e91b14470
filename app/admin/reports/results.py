"""Exam results of a batch (pass rate, scores, attempts used), question difficulty, and
合格人员名册, the roster of those who passed that an authority asks for."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.certificates.models import Certificate, CertificateState
from app.exams import banks
from app.exams import paper as papers
from app.exams.models import TYPE_LABELS, Attempt, ExamPolicy, Question
from app.exams.statuses import AttemptStatus
from app.learning.models import Batch, Enrolment


@dataclasses.dataclass
class Results:
    enrolled: int
    sat: int
    passed: int
    failed_out: int  # used every attempt without passing
    scores: list[tuple[str, int]]  # best score per learner, in bands of 10% of the total
    attempts_used: list[tuple[str, int]]
    average: float | None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.sat if self.sat else None


async def results(*, session: AsyncSession, batch: Batch, work_unit: str = "") -> Results:
    """Pass rate, the distribution of best scores and of attempts used."""
    policy = await session.scalar(select(ExamPolicy).where(ExamPolicy.batch_id == batch.id))
    total = papers.Rules.from_policy(policy).total_points if policy else 100.0
    max_attempts = policy.max_attempts if policy else 3
    people = select(Enrolment.user_id).where(Enrolment.batch_id == batch.id)
    if work_unit:
        people = people.join(User, User.id == Enrolment.user_id).where(User.work_unit == work_unit)
    enrolled = await session.scalar(select(func.count()).select_from(people.subquery()))
    rows = await session.execute(
        select(
            Attempt.user_id,
            func.count(),
            func.max(Attempt.score),
            func.max(case((Attempt.passed, 1), else_=0)),
        )
        .where(
            Attempt.batch_id == batch.id,
            Attempt.status == AttemptStatus.CLOSED,
            Attempt.user_id.in_(people),
        )
        .group_by(Attempt.user_id)
    )
    bands = [f"{i * 10}–{i * 10 + 9}%" for i in range(10)]
    bands[-1] = "90–100%"
    scores = dict.fromkeys(bands, 0)
    used: dict[str, int] = {}
    sat = passed = failed_out = 0
    score_sum = 0.0
    for _uid, count, best, ok in rows:
        sat += 1
        passed += bool(ok)
        failed_out += (not ok) and count >= max_attempts
        best = best or 0.0
        score_sum += best
        scores[bands[min(9, int(best * 10 // total))]] += 1
        key = f"{count} 次"
        used[key] = used.get(key, 0) + 1
    return Results(
        enrolled=enrolled or 0,
        sat=sat,
        passed=passed,
        failed_out=failed_out,
        scores=list(scores.items()),
        attempts_used=sorted(used.items()),
        average=round(score_sum / sat, 1) if sat else None,
    )


@dataclasses.dataclass
class Difficulty:
    question_id: int
    type_label: str
    stem: str
    chapter: str
    used: int
    correct: int

    @property
    def share(self) -> float:
        return self.correct / self.used if self.used else 0.0


async def difficulty(*, session: AsyncSession, batch: Batch) -> list[Difficulty]:
    """Every question this batch's graded papers used, hardest first."""
    stats = await banks.question_stats(session=session, batch_id=batch.id)
    if not stats:
        return []
    found = []
    ids = list(stats)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(Question.id, Question.type, Question.stem, Question.chapter).where(
                Question.id.in_(ids[start : start + 500])
            )
        )
        for qid, qtype, stem, chapter in rows:
            stat = stats[qid]
            found.append(
                Difficulty(
                    qid, TYPE_LABELS.get(qtype, qtype), stem, chapter, stat.used, stat.correct
                )
            )
    found.sort(key=lambda d: (d.share, -d.used, d.question_id))
    return found


@dataclasses.dataclass
class RosterRow:
    name: str
    id_number: str
    gender: str
    work_unit: str
    minutes: int
    score: float
    number: str
    issued_at: dt.datetime | None


async def roster(*, session: AsyncSession, batch: Batch, chunk: int = 2000):
    """合格人员名册: everyone who passed, with certificate number and date, in chunks."""
    stream = await session.stream(
        select(
            User.name,
            User.id_number,
            User.gender,
            User.work_unit,
            Certificate.minutes,
            Attempt.score,
            Certificate.number,
            Certificate.issued_at,
            Certificate.state,
        )
        .join(Attempt, Attempt.user_id == User.id)
        .outerjoin(Certificate, Certificate.attempt_id == Attempt.id)
        .where(Attempt.batch_id == batch.id, Attempt.passed.is_(True))
        .order_by(User.work_unit, User.id)
        .execution_options(yield_per=chunk)
    )
    async for part in stream.partitions(chunk):
        yield [
            RosterRow(
                name=name,
                id_number=number,
                gender=gender,
                work_unit=unit or "",
                minutes=minutes or 0,
                score=score or 0.0,
                number=cert if state != CertificateState.REVOKED and cert else "",
                issued_at=issued if state == CertificateState.ISSUED else None,
            )
            for name, number, gender, unit, minutes, score, cert, issued, state in part
        ]


async def work_units(*, session: AsyncSession, batch_id: int) -> list[tuple[str, int]]:
    """The work units of a batch's learners with their numbers, for the filter."""
    rows = await session.execute(
        select(User.work_unit, func.count())
        .join(Enrolment, Enrolment.user_id == User.id)
        .where(Enrolment.batch_id == batch_id, User.work_unit != "")
        .group_by(User.work_unit)
        .order_by(func.count().desc(), User.work_unit)
        .limit(500)
    )
    return list(rows.tuples())


def score_text(score: float) -> str:
    """A score as printed: 86 or 86.5."""
    return papers.fmt_points(score)


async def learner_results(*, session: AsyncSession, batch: Batch, work_unit: str = ""):
    """Per learner: attempts, best score and whether they passed (for the export)."""
    stats = (
        select(
            Attempt.user_id.label("user_id"),
            func.count().label("n"),
            func.max(Attempt.score).label("best"),
            func.max(case((Attempt.passed, 1), else_=0)).label("passed"),
        )
        .where(Attempt.batch_id == batch.id, Attempt.status == AttemptStatus.CLOSED)
        .group_by(Attempt.user_id)
        .subquery()
    )
    query = (
        select(User.name, User.id_number, User.work_unit, stats.c.n, stats.c.best, stats.c.passed)
        .join(Enrolment, (Enrolment.user_id == User.id) & (Enrolment.batch_id == batch.id))
        .outerjoin(stats, stats.c.user_id == User.id)
        .order_by(User.work_unit, User.id)
    )
    if work_unit:
        query = query.where(User.work_unit == work_unit)
    return [
        (
            name,
            number,
            unit or "",
            count or 0,
            score_text(best) if best is not None else "",
            "合格" if passed else ("不合格" if count else "未参加"),
        )
        for name, number, unit, count, best, passed in await session.execute(query)
    ]
