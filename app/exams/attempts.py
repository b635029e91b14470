"""Attempts: drawing a paper, starting, reading it back, the history, moving a deadline.

The server owns the clock: an attempt's deadline is fixed in the database when it starts
and every rule compares against the ``now`` its caller passes in (``svc.now()``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import time
import weakref

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.errors import AppError, NotFound
from app.exams import paper as papers
from app.exams.eligibility import eligibility
from app.exams.events import DeadlineMoved
from app.exams.models import (
    TYPE_LABELS,
    TYPE_ORDER,
    Answer,
    Attempt,
    AttemptEvent,
    AttemptStatus,
    Question,
)
from app.learning.models import Batch

ATTEMPT_NOT_FOUND = "考试不存在或不属于您"


# Active questions per bank, per database, for POOL_SECONDS: every start draws from the
# pool, and re-reading 100+ questions for each of thousands of starts is wasted work. An
# import in this process forgets the bank at once; other processes see it within the TTL.
POOL_SECONDS = 30.0
_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def _pool(*, session: AsyncSession, bank_id: int) -> list[papers.PoolQuestion]:
    cache = _pools.setdefault(session.bind.sync_engine, {})
    hit = cache.get(bank_id)
    if hit is not None and time.monotonic() - hit[0] < POOL_SECONDS:
        return hit[1]
    rows = await session.execute(
        select(Question.id, Question.type, Question.options).where(
            Question.bank_id == bank_id, Question.active.is_(True)
        )
    )
    pool = [
        papers.PoolQuestion(id=qid, type=qtype, option_count=len(json.loads(options)))
        for qid, qtype, options in rows
    ]
    cache[bank_id] = (time.monotonic(), pool)
    return pool


def forget_pool(*, session: AsyncSession, bank_id: int) -> None:
    """Drop this process's cached pool of a bank (after its questions changed)."""
    _pools.get(session.bind.sync_engine, {}).pop(bank_id, None)


async def record_event(
    *, session: AsyncSession, attempt_id: int, kind: str, now: dt.datetime, detail: str = ""
) -> None:
    """Add one entry to an attempt's history (what invigilators see)."""
    session.add(AttemptEvent(attempt_id=attempt_id, at=now, kind=kind, detail=detail[:300]))


@dataclasses.dataclass
class Plan:
    """A drawn paper, ready to become an attempt (or the attempt already running)."""

    user_id: int
    batch_id: int
    running: Attempt | None = None
    number: int = 0
    seed: int = 0
    rules: str = ""
    paper: str = ""
    deadline: dt.datetime | None = None


async def plan_attempt(
    *, session: AsyncSession, user_id: int, batch_id: int, now: dt.datetime
) -> Plan:
    """Check eligibility and draw a paper; reads only, so it needs no write lock."""
    elig = await eligibility(session=session, user_id=user_id, batch_id=batch_id, now=now)
    running = elig.open_attempt
    if running is not None:
        return Plan(user_id=user_id, batch_id=batch_id, running=running)
    if elig.reasons:
        raise AppError("not_eligible", "暂不能参加考试：" + "；".join(elig.reasons), 403)
    rules = papers.Rules.from_policy(elig.policy)
    pool = await _pool(session=session, bank_id=elig.policy.bank_id)
    counts: dict[str, int] = {}
    for q in pool:
        counts[q.type] = counts.get(q.type, 0) + 1
    problems = papers.shortfalls(rules, counts)
    if problems:
        raise AppError(
            "bank_too_small",
            "试卷无法生成：" + "；".join(problems) + "。请联系管理员补充题库或调整考试策略。",
            409,
        )
    seed = secrets.randbelow(2**31 - 1)
    return Plan(
        user_id=user_id,
        batch_id=batch_id,
        number=elig.attempts_used + 1,
        seed=seed,
        rules=rules.to_json(),
        paper=papers.paper_to_json(papers.draw(seed, rules, pool)),
        deadline=min(now + dt.timedelta(minutes=rules.duration_minutes), elig.batch.exam_closes_at),
    )


async def start_attempt(*, session: AsyncSession, plan: Plan, now: dt.datetime) -> Attempt:
    """Turn a plan into the learner's attempt, unless another start got there first."""
    if plan.running is not None:
        return plan.running
    same = (Attempt.user_id == plan.user_id, Attempt.batch_id == plan.batch_id)
    used, running = (
        await session.execute(
            select(func.count(), func.count().filter(Attempt.status == AttemptStatus.OPEN)).where(
                *same
            )
        )
    ).one()
    if running:
        return await session.scalar(
            select(Attempt).where(*same, Attempt.status == AttemptStatus.OPEN)
        )
    if used != plan.number - 1:
        raise AppError("changed", "考试状态已变化，请刷新页面后重试", 409)
    attempt = Attempt(
        user_id=plan.user_id,
        batch_id=plan.batch_id,
        number=plan.number,
        seed=plan.seed,
        rules=plan.rules,
        paper=plan.paper,
        status=AttemptStatus.OPEN,
        started_at=now,
        deadline=plan.deadline,
        tab="",
        focus_losses=0,
        reconnects=0,
        second_devices=0,
    )
    if session.bind.dialect.name == "sqlite":
        # The transaction holds SQLite's write lock from its first statement, so no other
        # start can have slipped in between the checks above and this insert.
        session.add(attempt)
        await session.flush()
        return attempt
    try:
        async with session.begin_nested():
            session.add(attempt)
            await session.flush()
    except IntegrityError:
        # A second click raced this one and already started the same attempt number.
        existing = await session.scalar(
            select(Attempt).where(*same, Attempt.status == AttemptStatus.OPEN)
        )
        if existing is None:
            raise
        return existing
    return attempt


async def get_attempt(*, session: AsyncSession, attempt_id: int, user_id: int) -> Attempt:
    """One of the learner's own attempts; anyone else's is simply not found."""
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None or attempt.user_id != user_id:
        raise NotFound(ATTEMPT_NOT_FOUND)
    return attempt


@dataclasses.dataclass
class QuestionView:
    """A question as the learner sees it: no answer, no explanation."""

    number: int
    id: int
    type: str
    stem: str
    options: list[tuple[str, str]]  # (display letter, text)


@dataclasses.dataclass
class Section:
    type: str
    label: str
    points: float
    questions: list[QuestionView]

    @property
    def heading(self) -> str:
        return f"{self.label}（{len(self.questions)}题，每题{papers.fmt_points(self.points)}分）"


async def paper_sections(*, session: AsyncSession, attempt: Attempt) -> list[Section]:
    """The paper grouped by type, numbered 1..N, options in the attempt's display order."""
    items = papers.paper_from_json(attempt.paper)
    rules = papers.Rules.from_json(attempt.rules)
    rows = await session.execute(
        select(Question.id, Question.stem, Question.options).where(
            Question.id.in_([i.question_id for i in items])
        )
    )
    texts = {qid: (stem, json.loads(options)) for qid, stem, options in rows}
    sections = {t: Section(t, TYPE_LABELS[t], rules.points[t], []) for t in TYPE_ORDER}
    for number, item in enumerate(items, start=1):
        stem, options = texts[item.question_id]
        shown = [
            (papers.LETTERS[i], options[papers.LETTERS.index(original)])
            for i, original in enumerate(item.order)
        ]
        sections[item.type].questions.append(
            QuestionView(
                number=number, id=item.question_id, type=item.type, stem=stem, options=shown
            )
        )
    return [s for s in sections.values() if s.questions]


async def answers_of(*, session: AsyncSession, attempt_id: int) -> dict[int, tuple[str, int]]:
    """The acknowledged answers of an attempt: question id -> (value, seq)."""
    rows = await session.execute(
        select(Answer.question_id, Answer.value, Answer.seq).where(Answer.attempt_id == attempt_id)
    )
    return {qid: (value, seq) for qid, value, seq in rows}


async def extend_deadline(
    *, session: AsyncSession, attempt_id: int, minutes: int, now: dt.datetime
) -> Attempt:
    """An invigilator gives one learner more time (the deadline moves in the database)."""
    if not 1 <= minutes <= 120:
        raise AppError("bad_minutes", "延长时间应在 1 到 120 分钟之间")
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("考试不存在")
    if not attempt.is_running(now):
        raise AppError("attempt_closed", "该考生的考试已结束，不能延长时间", 409)
    attempt.deadline = attempt.deadline + dt.timedelta(minutes=minutes)
    await record_event(
        session=session,
        attempt_id=attempt_id,
        kind="extended",
        now=now,
        detail=f"延长 {minutes} 分钟",
    )
    await session.flush()
    events.record(session, DeadlineMoved(attempt_id=attempt.id, deadline=attempt.deadline))
    return attempt


async def expired_attempt_ids(
    *, session: AsyncSession, user_id: int, now: dt.datetime
) -> list[int]:
    """A learner's attempts still open although their time is up."""
    return list(
        await session.scalars(
            select(Attempt.id).where(
                Attempt.user_id == user_id,
                Attempt.status == AttemptStatus.OPEN,
                Attempt.deadline <= now,
            )
        )
    )


async def batch_name(*, session: AsyncSession, batch_id: int) -> str:
    """The name of a batch."""
    return await session.scalar(select(Batch.name).where(Batch.id == batch_id)) or ""


async def next_deadline(*, session: AsyncSession) -> dt.datetime | None:
    """The earliest deadline of any open attempt (what the sweeper waits for)."""
    return await session.scalar(
        select(func.min(Attempt.deadline)).where(Attempt.status == AttemptStatus.OPEN)
    )
