"""Exam results of a batch (pass rate, scores, attempts used), question difficulty, and
合格人员名册, the roster of those who passed that an authority asks for."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.certificates.models import Certificate, CertificateState
from app.clock import SHANGHAI
from app.exams import paper as papers
from app.exams import statistics, statuses
from app.exams.models import TYPE_LABELS, Attempt, ExamPolicy, ExamSession, Question
from app.exams.statuses import AttemptStatus, EndedBy
from app.learning.models import Batch, Enrolment


@dataclasses.dataclass
class Results:
    enrolled: int
    sat: int  # learners with a paper that counts (voided papers do not)
    passed: int
    failed_out: int  # used every attempt without passing
    scores: list[tuple[str, int]]  # best counted score per learner, in bands of 10%
    attempts_used: list[tuple[str, int]]
    average: float | None
    voided: int = 0  # voided papers, counted in no score
    voided_only: int = 0  # learners whose every paper was voided

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.sat if self.sat else None


def _per_learner(batch_id: int):
    """Per learner of a batch: papers closed, chances used, papers voided, the best counted
    score and whether one passed (a voided paper never passes)."""
    counted = statuses.counted(Attempt)
    return (
        select(
            Attempt.user_id.label("user_id"),
            func.count().label("closed"),
            func.count().filter(Attempt.uses_attempt.is_(True)).label("used"),
            func.count().filter(Attempt.ended_by == EndedBy.VOIDED).label("voided"),
            func.max(case((counted, Attempt.score))).label("best"),
            func.max(case((Attempt.passed, 1), else_=0)).label("passed"),
        )
        .where(Attempt.batch_id == batch_id, Attempt.status == AttemptStatus.CLOSED)
        .group_by(Attempt.user_id)
    )


async def results(*, session: AsyncSession, batch: Batch, work_unit: str = "") -> Results:
    """Pass rate, the distribution of best scores and of attempts used; voided papers
    count in none of them (only as chances used, when the batch's rule says so)."""
    policy = await session.scalar(select(ExamPolicy).where(ExamPolicy.batch_id == batch.id))
    total = papers.Rules.from_policy(policy).total_points if policy else 100.0
    max_attempts = policy.max_attempts if policy else 3
    people = select(Enrolment.user_id).where(Enrolment.batch_id == batch.id)
    if work_unit:
        people = people.join(User, User.id == Enrolment.user_id).where(User.work_unit == work_unit)
    enrolled = await session.scalar(select(func.count()).select_from(people.subquery()))
    rows = await session.execute(_per_learner(batch.id).where(Attempt.user_id.in_(people)))
    bands = [f"{i * 10}–{i * 10 + 9}%" for i in range(10)]
    bands[-1] = "90–100%"
    scores = dict.fromkeys(bands, 0)
    used_counts: dict[str, int] = {}
    sat = passed = failed_out = voided = voided_only = 0
    score_sum = 0.0
    for row in rows:
        voided += row.voided
        if row.used:
            key = f"{row.used} 次"
            used_counts[key] = used_counts.get(key, 0) + 1
        failed_out += (not row.passed) and row.used >= max_attempts
        if row.best is None:
            voided_only += 1
            continue
        sat += 1
        passed += bool(row.passed)
        score_sum += row.best
        scores[bands[min(9, int(row.best * 10 // total))]] += 1
    return Results(
        enrolled=enrolled or 0,
        sat=sat,
        passed=passed,
        failed_out=failed_out,
        scores=list(scores.items()),
        attempts_used=sorted(used_counts.items()),
        average=round(score_sum / sat, 1) if sat else None,
        voided=voided,
        voided_only=voided_only,
    )


@dataclasses.dataclass
class Difficulty:
    """One question of the 试题难度 report: its statistics and what each option drew."""

    question_id: int
    type: str
    stem: str
    chapter: str
    answer: str
    option_count: int
    stat: statistics.QuestionStat

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.type, self.type)

    @property
    def used(self) -> int:
        return self.stat.used

    @property
    def correct(self) -> int:
        return self.stat.correct

    @property
    def share(self) -> float:
        return self.stat.share or 0.0

    @property
    def facility(self) -> float:
        return self.stat.facility or 0.0

    @property
    def discrimination(self) -> float | None:
        return self.stat.discrimination

    @property
    def needs_review(self) -> bool:
        return self.stat.needs_review

    @property
    def answer_text(self) -> str:
        """The right answer as the report names it (对/错 for true/false)."""
        return "".join(statistics.option_label(self.type, letter) for letter in self.answer)

    @property
    def options(self) -> list[tuple[str, int, bool]]:
        """(option as named, papers that chose it, whether it is right), in order."""
        return [
            (
                statistics.option_label(self.type, letter),
                self.stat.choices[letter],
                letter in self.answer,
            )
            for letter in statistics.option_letters(self.type, self.option_count)
        ]


async def difficulty(*, session: AsyncSession, batch: Batch) -> list[Difficulty]:
    """Every question this batch's counted papers used, hardest first."""
    stats = await statistics.question_stats(session=session, batch_id=batch.id)
    if not stats:
        return []
    found = []
    ids = list(stats)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(
                Question.id,
                Question.type,
                Question.stem,
                Question.chapter,
                Question.answer,
                Question.options,
            ).where(Question.id.in_(ids[start : start + 500]))
        )
        for qid, qtype, stem, chapter, answer, options in rows:
            found.append(
                Difficulty(qid, qtype, stem, chapter, answer, len(json.loads(options)), stats[qid])
            )
    found.sort(key=lambda d: (d.facility, -d.used, d.question_id))
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


def score_number(score: float | None) -> int | float | None:
    """A score as a spreadsheet number: 86 (not 86.0) or 86.5; None stays an empty cell."""
    if score is None:
        return None
    return int(score) if float(score).is_integer() else round(score, 2)


async def learner_results(*, session: AsyncSession, batch: Batch, work_unit: str = ""):
    """Per learner (for the export): papers, papers voided, the best counted score as a
    number and the outcome (已作废 when every paper was voided)."""
    stats = _per_learner(batch.id).subquery()
    query = (
        select(
            User.name,
            User.id_number,
            User.work_unit,
            stats.c.closed,
            stats.c.voided,
            stats.c.best,
            stats.c.passed,
        )
        .join(Enrolment, (Enrolment.user_id == User.id) & (Enrolment.batch_id == batch.id))
        .outerjoin(stats, stats.c.user_id == User.id)
        .order_by(User.work_unit, User.id)
    )
    if work_unit:
        query = query.where(User.work_unit == work_unit)
    found = []
    for name, number, unit, closed, voided, best, passed in await session.execute(query):
        if passed:
            outcome = "合格"
        elif not closed:
            outcome = "未参加"
        elif best is None:
            outcome = statuses.VOIDED_LABEL
        else:
            outcome = "不合格"
        found.append(
            [name, number, unit or "", closed or 0, voided or 0, score_number(best), outcome]
        )
    return found


async def attempt_rows(*, session: AsyncSession, batch: Batch, work_unit: str = ""):
    """Every paper of a batch (for the export's 考试明细): who, which sitting and 考场, when,
    how it ended, the score as a number (none for a voided paper) and the outcome."""
    query = (
        select(User.name, User.id_number, User.work_unit, Attempt, ExamSession.name)
        .join(Attempt, Attempt.user_id == User.id)
        .outerjoin(ExamSession, ExamSession.id == Attempt.session_id)
        .where(Attempt.batch_id == batch.id)
        .order_by(User.work_unit, User.id, Attempt.number)
    )
    if work_unit:
        query = query.where(User.work_unit == work_unit)
    found = []
    for name, number, unit, a, room in await session.execute(query):
        found.append(
            [
                name,
                number,
                unit or "",
                a.number,
                room or "",
                _local(a.started_at),
                _local(a.ended_at),
                statuses.OPEN_LABEL if a.is_open else statuses.ended_label(a.ended_by),
                None if a.is_voided or a.is_open else score_number(a.score),
                statuses.result_label(status=a.status, ended_by=a.ended_by, passed=a.passed),
                a.void_reason or "",
            ]
        )
    return found


def _local(value: dt.datetime | None) -> dt.datetime | None:
    """A moment as a spreadsheet date-time: Shanghai wall time (cells hold no zone)."""
    return value.astimezone(SHANGHAI).replace(tzinfo=None) if value is not None else None
