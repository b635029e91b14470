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
from app.clock import shanghai_text
from app.errors import AppError, NotFound
from app.exams import paper as papers
from app.exams import sessions
from app.exams.eligibility import eligibility
from app.exams.events import AttemptActivity, DeadlineMoved
from app.exams.models import (
    TYPE_LABELS,
    TYPE_ORDER,
    Answer,
    Attempt,
    AttemptEvent,
    Question,
)
from app.exams.statuses import AttemptStatus, EventKind
from app.learning.models import Batch
from app.lib import http

ATTEMPT_NOT_FOUND = "考试不存在或不属于您"


# Active questions per bank, per database, for POOL_SECONDS: every start draws from the
# pool, and re-reading 100+ questions for each of thousands of starts is wasted work. An
# import in this process forgets the bank at once; other processes see it within the TTL.
# Kept per connection pool (the engine's): disposing the engine forgets them.
POOL_SECONDS = 30.0
_pools: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def _pool(*, session: AsyncSession, bank_id: int) -> list[papers.PoolQuestion]:
    cache = _pools.setdefault(session.bind.sync_engine.pool, {})
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
    _pools.get(session.bind.sync_engine.pool, {}).pop(bank_id, None)


def forget_pools() -> None:
    """Drop every cached pool of this process (its databases were emptied under it: the
    test workers, which keep one engine across tests, app.db.keep_engines)."""
    _pools.clear()


async def record_event(
    *, session: AsyncSession, attempt_id: int, kind: EventKind, now: dt.datetime, detail: str = ""
) -> None:
    """Add one entry to an attempt's history (what invigilators see); a kind outside the
    vocabulary is a programming error, refused before anything is written."""
    kind = EventKind(kind)
    session.add(AttemptEvent(attempt_id=attempt_id, at=now, kind=kind, detail=detail[:300]))


def tell_changed(session: AsyncSession, attempt: Attempt) -> None:
    """Once committed, whoever watches the attempt's session sees its row change."""
    if attempt.session_id is not None:
        events.record(session, AttemptActivity(attempt.session_id, attempt.user_id, attempt.id))


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
    session_id: int | None = None


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
        session_id=await sessions.running_session_for(
            session=session, user_id=user_id, batch_id=batch_id, now=now
        ),
        number=elig.next_number,
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
        session_id=plan.session_id,
        last_ip="",
        ip_changes=0,
        uses_attempt=True,
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


MAX_EXTRA_MINUTES = 120


def check_minutes(minutes: object) -> int:
    """Extra time must be a whole number of minutes from 1 to MAX_EXTRA_MINUTES."""
    if not http.is_int(minutes, 1, MAX_EXTRA_MINUTES):
        raise AppError("bad_minutes", f"延长时间应在 1 到 {MAX_EXTRA_MINUTES} 分钟之间")
    return minutes


@dataclasses.dataclass
class Extension:
    """What an extension did: the new deadline, the minutes really added, whether capped."""

    attempt: Attempt
    added_seconds: int
    capped: bool
    window_end: dt.datetime

    @property
    def deadline(self) -> dt.datetime:
        return self.attempt.deadline

    @property
    def message(self) -> str:
        if not self.capped:
            return f"已延长 {self.added_seconds // 60} 分钟"
        return (
            f"已延长至本批次考试截止时间 {shanghai_text(self.window_end, '%m-%d %H:%M')}"
            f"（实际延长约 {round(self.added_seconds / 60)} 分钟）"
        )


async def extend_deadline(
    *, session: AsyncSession, attempt_id: int, minutes: int, now: dt.datetime, why: str = ""
) -> Extension:
    """An invigilator gives one learner more time (the deadline moves in the database),
    never past the end of the batch's exam window."""
    minutes = check_minutes(minutes)
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("考试不存在")
    if not attempt.is_running(now):
        raise AppError("attempt_closed", "该考生的考试已结束，不能延长时间", 409)
    window_end = await session.scalar(
        select(Batch.exam_closes_at).where(Batch.id == attempt.batch_id)
    )
    if attempt.deadline >= window_end:
        raise AppError(
            "window_end",
            f"该考生的截止时间已是本批次考试截止时间（{shanghai_text(window_end)}），不能再延长",
            409,
        )
    wanted = attempt.deadline + dt.timedelta(minutes=minutes)
    new_deadline = min(wanted, window_end)
    extension = Extension(
        attempt=attempt,
        added_seconds=int((new_deadline - attempt.deadline).total_seconds()),
        capped=new_deadline < wanted,
        window_end=window_end,
    )
    attempt.deadline = new_deadline
    detail = extension.message + (f"；原因：{why}" if why else "")
    await record_event(
        session=session, attempt_id=attempt_id, kind=EventKind.EXTENDED, now=now, detail=detail
    )
    await session.flush()
    events.record(
        session,
        DeadlineMoved(
            attempt_id=attempt.id,
            deadline=attempt.deadline,
            session_id=attempt.session_id,
            user_id=attempt.user_id,
            added_seconds=extension.added_seconds,
        ),
    )
    return extension


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
