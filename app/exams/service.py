"""Exam rules: banks and policies, eligibility, attempts, autosaved answers, grading.

The server owns the clock: an attempt's deadline is fixed in the database when it starts
and every rule compares against the ``now`` its caller passes in (``svc.now()``). Closing
an attempt is a conditional UPDATE on its status, so a learner's submit, the deadline
sweeper in any number of processes and an invigilator can race and only one wins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import time
import weakref
from collections.abc import Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import SHANGHAI
from app.errors import AppError, NotFound
from app.exams import paper as papers
from app.exams.models import (
    ENDED_LABELS,
    TYPE_LABELS,
    TYPE_ORDER,
    Answer,
    Attempt,
    AttemptEvent,
    AttemptStatus,
    EndedBy,
    ExamPolicy,
    Question,
    QuestionBank,
)
from app.learning.models import Batch, Enrolment

# How many expired attempts one sweeper transaction closes: small enough that the SQLite
# write lock is never held for long, large enough that 3,000 papers close within a second.
SWEEP_CHUNK = 1000

ATTEMPT_NOT_FOUND = "考试不存在或不属于您"


# ---------------------------------------------------------------------------- banks


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
    total = papers.Rules.from_policy(policy).total_points
    if not 0 < policy.pass_mark <= total:
        raise AppError("bad_policy", f"合格分数应在 0 到试卷总分 {papers.fmt_points(total)} 之间")


async def paper_problems(*, session: AsyncSession, policy: ExamPolicy) -> list[str]:
    """What stops the bank from filling this policy (empty when papers can be drawn)."""
    counts = await available_counts(session=session, bank_id=policy.bank_id)
    return papers.shortfalls(papers.Rules.from_policy(policy), counts)


# ---------------------------------------------------------------------------- eligibility


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
        return next((a for a in self.attempts if a.status == AttemptStatus.OPEN), None)

    @property
    def passed_attempt(self) -> Attempt | None:
        return next((a for a in self.attempts if a.passed), None)

    @property
    def attempts_used(self) -> int:
        return len(self.attempts)

    @property
    def can_start(self) -> bool:
        return not self.reasons and self.open_attempt is None

    @property
    def rules(self) -> papers.Rules | None:
        return papers.Rules.from_policy(self.policy) if self.policy else None


def _fmt_local(value: dt.datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def eligibility(
    *, session: AsyncSession, user_id: int, batch_id: int, now: dt.datetime
) -> Eligibility:
    """Whether a learner may start an exam in a batch now, and if not, why not."""
    from app.learning import service as learning

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
    closed = [a for a in attempts if a.status == AttemptStatus.CLOSED]
    if len(closed) >= policy.max_attempts:
        reasons.append(f"已用 {len(closed)} 次机会，考试机会已用完，请报名参加后续批次")
        return result
    if now < batch.exam_opens_at:
        reasons.append(f"考试未开放（{_fmt_local(batch.exam_opens_at)} 开放）")
    elif now >= batch.exam_closes_at:
        reasons.append("考试已结束")
    missing_total = batch.required_minutes - progress.credited_minutes
    if missing_total > 0:
        reasons.append(f"总学习时长还差 {missing_total} 分钟")
    missing_public = batch.required_public_minutes - progress.public_minutes
    if missing_public > 0:
        reasons.append(f"公共课还差 {missing_public} 分钟")
    if progress.study_days < batch.min_study_days:
        reasons.append(f"学习天数 {progress.study_days}/{batch.min_study_days}")
    for name in progress.incomplete_required:
        reasons.append(f"必修课《{name}》未完成")
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


# ---------------------------------------------------------------------------- attempts


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
        existing = await session.scalar(select(Attempt).where(*same, Attempt.status == "open"))
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


# ---------------------------------------------------------------------------- joining


@dataclasses.dataclass
class JoinOutcome:
    """What happened when a browser tab opened the exam: resumed, took over, or ended."""

    attempt: Attempt
    kind: str  # first / resume / reconnect / takeover / refused / forfeited / closed
    previous_tab: str = ""
    ended: list[Result] = dataclasses.field(default_factory=list)  # closed by this join


async def join(
    *,
    session: AsyncSession,
    attempt_id: int,
    user_id: int,
    tab: str,
    other_tab_connected: bool,
    now: dt.datetime,
    detail: str = "",
) -> JoinOutcome:
    """A browser tab opens (or reconnects to) an attempt; applies the batch's rules."""
    attempt = await get_attempt(session=session, attempt_id=attempt_id, user_id=user_id)
    ended: list[Result] = []
    if attempt.status == AttemptStatus.OPEN and attempt.deadline <= now:
        ended = await close_attempts(
            session=session, now=now, ids=[attempt.id], ended_by=EndedBy.TIME_UP
        )
    if attempt.status != AttemptStatus.OPEN:
        return JoinOutcome(attempt, "closed", ended=ended)
    rules = papers.Rules.from_json(attempt.rules)
    previous = attempt.tab
    if not previous:
        kind = "first"
    elif previous == tab:
        kind = "reconnect"
    elif other_tab_connected:
        if rules.second_device == "refuse":
            attempt.second_devices += 1
            await record_event(
                session=session,
                attempt_id=attempt.id,
                kind="second_device_refused",
                now=now,
                detail=detail,
            )
            # Returned, not raised: the caller commits the record, then refuses the tab.
            return JoinOutcome(attempt, "refused", previous)
        kind = "takeover"
    elif rules.disconnect_policy == "forfeit":
        ended = await close_attempts(
            session=session, now=now, ids=[attempt.id], ended_by=EndedBy.FORFEITED
        )
        return JoinOutcome(attempt, "forfeited", previous, ended)
    else:
        kind = "resume"
    attempt.tab = tab
    if kind == "takeover":
        attempt.second_devices += 1
    elif kind in ("reconnect", "resume"):
        attempt.reconnects += 1
    event = {"first": "join", "takeover": "second_device"}.get(kind, kind)
    await record_event(session=session, attempt_id=attempt.id, kind=event, now=now, detail=detail)
    await session.flush()
    return JoinOutcome(attempt, kind, previous)


async def record_focus_loss(
    *, session: AsyncSession, attempt_id: int, user_id: int, now: dt.datetime, detail: str
) -> None:
    """The page reports that the learner left the exam tab or window."""
    attempt = await get_attempt(session=session, attempt_id=attempt_id, user_id=user_id)
    if attempt.status != AttemptStatus.OPEN:
        return
    attempt.focus_losses += 1
    await record_event(
        session=session, attempt_id=attempt_id, kind="focus_lost", now=now, detail=detail
    )


# ---------------------------------------------------------------------------- saving


@dataclasses.dataclass(frozen=True)
class Save:
    """One validated autosave, waiting to be committed."""

    attempt_id: int
    user_id: int
    tab: str
    question_id: int
    value: str
    seq: int


def _upsert(insert) -> object:
    stmt = insert(Answer.__table__)
    return stmt.on_conflict_do_update(
        index_elements=[Answer.attempt_id, Answer.question_id],
        set_={
            "value": stmt.excluded.value,
            "seq": stmt.excluded.seq,
            "saved_at": stmt.excluded.saved_at,
        },
        where=Answer.__table__.c.seq < stmt.excluded.seq,
    )


# Built once: the statement's cache key is then computed once, not on every autosave.
_UPSERT = {"sqlite": _upsert(sqlite_insert), "postgresql": _upsert(pg_insert)}


CLOSED_ERROR = AppError("attempt_closed", "本次考试已结束，答案不能再修改", 409)
TIME_UP_ERROR = AppError("time_up", "考试时间已到，答案不能再保存", 409)
SECOND_DEVICE_ERROR = AppError(
    "second_device",
    "本场考试已在其他窗口或设备上进行，不能同时在两处作答。如原窗口已关闭，请稍候 1 分钟再试。",
    409,
)
TAKEN_OVER_ERROR = AppError(
    "taken_over", "本场考试已在其他窗口或设备上继续作答，此窗口的答案不再保存", 409
)


def judge_saves(
    saves: Sequence[Save], attempts: dict[int, tuple], now: dt.datetime
) -> tuple[list[AppError | None], dict[tuple[int, int], Save]]:
    """Which saves may be stored, from each attempt's (user id, status, deadline, tab).

    Returns the outcome per save and, per (attempt, question), the save to store: the
    one with the highest seq (the upsert keeps a stored higher seq anyway).
    """
    outcomes: list[AppError | None] = []
    latest: dict[tuple[int, int], Save] = {}
    for s in saves:
        row = attempts.get(s.attempt_id)
        if row is None or row[0] != s.user_id:
            outcomes.append(NotFound(ATTEMPT_NOT_FOUND))
        elif row[1] != AttemptStatus.OPEN:
            outcomes.append(CLOSED_ERROR)
        elif row[2] <= now:
            outcomes.append(TIME_UP_ERROR)
        elif s.tab != row[3]:
            outcomes.append(TAKEN_OVER_ERROR)
        else:
            outcomes.append(None)
            key = (s.attempt_id, s.question_id)
            if key not in latest or latest[key].seq < s.seq:
                latest[key] = s
    return outcomes, latest


async def save_answers(
    *, session: AsyncSession, saves: Sequence[Save], now: dt.datetime
) -> list[AppError | None]:
    """Store many autosaves in one transaction; per save, None (stored) or why not.

    A save whose seq is not above the stored one changes nothing but still succeeds: the
    server already holds a newer answer for that question.
    """
    ids = sorted({s.attempt_id for s in saves})
    rows = await session.execute(
        select(Attempt.id, Attempt.user_id, Attempt.status, Attempt.deadline, Attempt.tab)
        .where(Attempt.id.in_(ids))
        # On PostgreSQL this waits for a concurrent close, so nothing is stored after grading.
        .with_for_update(read=True)
    )
    outcomes, latest = judge_saves(saves, {row.id: tuple(row)[1:] for row in rows}, now)
    if latest:
        await session.execute(
            _UPSERT[session.bind.dialect.name],
            [
                {
                    "attempt_id": s.attempt_id,
                    "question_id": s.question_id,
                    "value": s.value,
                    "seq": s.seq,
                    "saved_at": now,
                }
                for s in latest.values()
            ],
        )
    return outcomes


# ---------------------------------------------------------------------------- closing


@dataclasses.dataclass
class Result:
    """What the result dialog shows. Never carries correct answers."""

    attempt_id: int
    user_id: int
    batch_id: int
    score: float
    passed: bool
    ended_by: str
    attempts_left: int

    @property
    def message(self) -> str:
        score = papers.fmt_points(self.score)
        if self.ended_by == EndedBy.FORFEITED:
            head = "本次考试已作废：考试过程中关闭了浏览器或离开了考试页面（按本批次考试规则）。"
        elif self.passed:
            return f"恭喜您！您的考试成绩为 {score} 分，考试合格！请到“考试记录”中查看成绩，合格证书生成后可下载打印。"
        else:
            head = f"很遗憾！您的考试成绩为 {score} 分，考试未通过！"
        if self.attempts_left > 0:
            return head + f"您还有 {self.attempts_left} 次考试的机会，继续努力吧！"
        return head + "您的考试机会已用完，需在下一批继续教育报名时重新报名、学习、考试。"

    def to_dict(self) -> dict[str, object]:
        return {
            "attempt_id": self.attempt_id,
            "score": self.score,
            "score_text": papers.fmt_points(self.score),
            "passed": self.passed,
            "ended_by": self.ended_by,
            "ended_label": ENDED_LABELS.get(self.ended_by, ""),
            "attempts_left": self.attempts_left,
            "message": self.message,
        }


async def _attempts_left(
    *, session: AsyncSession, attempts: Sequence[tuple[int, int, int, papers.Rules, bool]]
) -> dict[int, int]:
    """Chances left per attempt id, from (id, user id, batch id, rules, passed) tuples."""
    used: dict[tuple[int, int], int] = {}
    users = sorted({user_id for _, user_id, _, _, _ in attempts})
    for start in range(0, len(users), SWEEP_CHUNK):
        rows = await session.execute(
            select(Attempt.user_id, Attempt.batch_id, func.count())
            .where(Attempt.user_id.in_(users[start : start + SWEEP_CHUNK]))
            .group_by(Attempt.user_id, Attempt.batch_id)
        )
        used.update({(u, b): n for u, b, n in rows})
    return {
        attempt_id: 0 if passed else max(0, rules.max_attempts - used[(user_id, batch_id)])
        for attempt_id, user_id, batch_id, rules, passed in attempts
    }


async def close_attempts(
    *,
    session: AsyncSession,
    now: dt.datetime,
    ended_by: str,
    ids: Sequence[int] | None = None,
    expired_only: bool = False,
    limit: int = SWEEP_CHUNK,
) -> list[Result]:
    """Close and grade open attempts (given ones, or those past their deadline).

    The claim is one conditional UPDATE on the status, so when processes race each attempt
    is closed exactly once; it is graded in the same transaction from every answer
    committed before it, so an acknowledged answer is always part of the grade.
    """
    conditions = [Attempt.status == AttemptStatus.OPEN]
    if expired_only:
        conditions.append(Attempt.deadline <= now)
    if ids is not None:
        if not ids:
            return []
        conditions.append(Attempt.id.in_(list(ids)))
    candidates = (
        select(Attempt.id)
        .where(*conditions)
        .order_by(Attempt.deadline)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(
        await session.scalars(
            update(Attempt)
            .where(Attempt.id.in_(candidates), *conditions)
            .values(status=AttemptStatus.CLOSED, ended_at=now, ended_by=ended_by)
            .returning(Attempt.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return []
    attempts = list(
        await session.execute(
            select(
                Attempt.id,
                Attempt.user_id,
                Attempt.batch_id,
                Attempt.rules,
                Attempt.paper,
            ).where(Attempt.id.in_(claimed))
        )
    )
    answers: dict[int, dict[int, tuple[str, int]]] = {a.id: {} for a in attempts}
    for aid, qid, value, seq in await session.execute(
        select(Answer.attempt_id, Answer.question_id, Answer.value, Answer.seq).where(
            Answer.attempt_id.in_(claimed)
        )
    ):
        answers[aid][qid] = (value, seq)
    # Only answered questions can score, so only they are looked at.
    parsed = {}
    for a in attempts:
        paper = json.loads(a.paper)
        parsed[a.id] = [
            papers.PaperItem(qid, *paper[str(qid)])
            for qid, (value, _seq) in answers[a.id].items()
            if value and str(qid) in paper
        ]
    question_ids = {item.question_id for items in parsed.values() for item in items}
    keys = dict(
        (
            await session.execute(
                select(Question.id, Question.answer).where(Question.id.in_(question_ids))
            )
        ).all()
    )
    graded = []
    results = []
    for a in attempts:
        rules = papers.rules_from_json(a.rules)
        given = {qid: value for qid, (value, _seq) in answers[a.id].items()}
        forfeited = ended_by == EndedBy.FORFEITED
        score = 0.0 if forfeited else papers.grade(rules, parsed[a.id], given, keys)
        passed = score >= rules.pass_mark and not forfeited
        graded.append(
            {
                "b_id": a.id,
                "score": score,
                "passed": passed,
                "graded_answers": json.dumps(
                    {str(q): [v, s] for q, (v, s) in sorted(answers[a.id].items())}
                ),
            }
        )
        results.append((a, rules, score, passed))
    # Core statements: thousands of papers at one deadline must not wait for the ORM.
    table = Attempt.__table__
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            score=bindparam("score"),
            passed=bindparam("passed"),
            graded_answers=bindparam("graded_answers"),
        ),
        graded,
    )
    await session.execute(
        insert(AttemptEvent.__table__),
        [
            {
                "attempt_id": g["b_id"],
                "at": now,
                "kind": ended_by,
                "detail": f"得分 {papers.fmt_points(g['score'])}",
            }
            for g in graded
        ],
    )
    # Attempts this session already holds as objects must not keep their old state.
    held = [
        obj
        for obj in list(session.identity_map.values())
        if isinstance(obj, Attempt) and obj.id in set(claimed)
    ]
    for obj in held:
        await session.refresh(obj)
    left = await _attempts_left(
        session=session,
        attempts=[(a.id, a.user_id, a.batch_id, rules, passed) for a, rules, _, passed in results],
    )
    return [
        Result(
            attempt_id=a.id,
            user_id=a.user_id,
            batch_id=a.batch_id,
            score=score,
            passed=passed,
            ended_by=ended_by,
            attempts_left=left[a.id],
        )
        for a, _rules, score, passed in results
    ]


async def sweep(
    *, session: AsyncSession, now: dt.datetime, limit: int = SWEEP_CHUNK
) -> list[Result]:
    """Submit, with every acknowledged answer, up to ``limit`` attempts past their deadline."""
    return await close_attempts(
        session=session, now=now, ended_by=EndedBy.TIME_UP, expired_only=True, limit=limit
    )


async def submit(
    *, session: AsyncSession, attempt_id: int, user_id: int, now: dt.datetime
) -> Result:
    """The learner hands in the paper; after the deadline it counts as time up."""
    attempt = await get_attempt(session=session, attempt_id=attempt_id, user_id=user_id)
    if attempt.status == AttemptStatus.OPEN:
        ended_by = EndedBy.SUBMITTED if now < attempt.deadline else EndedBy.TIME_UP
        results = await close_attempts(
            session=session, now=now, ids=[attempt.id], ended_by=ended_by
        )
        if results:
            return results[0]
        await session.refresh(attempt)
    return await result_of(session=session, attempt=attempt)


async def force_submit(*, session: AsyncSession, attempt_id: int, now: dt.datetime) -> Result:
    """An invigilator ends a learner's attempt now, with every acknowledged answer."""
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("考试不存在")
    results = await close_attempts(
        session=session, now=now, ids=[attempt_id], ended_by=EndedBy.INVIGILATOR
    )
    if results:
        return results[0]
    await session.refresh(attempt)
    return await result_of(session=session, attempt=attempt)


async def extend_deadline(
    *, session: AsyncSession, attempt_id: int, minutes: int, now: dt.datetime
) -> Attempt:
    """An invigilator gives one learner more time (the deadline moves in the database)."""
    if not 1 <= minutes <= 120:
        raise AppError("bad_minutes", "延长时间应在 1 到 120 分钟之间")
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("考试不存在")
    if attempt.status != AttemptStatus.OPEN or attempt.deadline <= now:
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
    return attempt


async def result_of(*, session: AsyncSession, attempt: Attempt) -> Result:
    """The result of a closed attempt."""
    if attempt.status != AttemptStatus.CLOSED:
        raise AppError("attempt_open", "考试尚未结束", 409)
    rules = papers.Rules.from_json(attempt.rules)
    left = await _attempts_left(
        session=session,
        attempts=[(attempt.id, attempt.user_id, attempt.batch_id, rules, bool(attempt.passed))],
    )
    return Result(
        attempt_id=attempt.id,
        user_id=attempt.user_id,
        batch_id=attempt.batch_id,
        score=attempt.score or 0.0,
        passed=bool(attempt.passed),
        ended_by=attempt.ended_by or "",
        attempts_left=left[attempt.id],
    )


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


async def close_expired_for(
    *, session: AsyncSession, user_id: int, now: dt.datetime
) -> list[Result]:
    """Opportunistically submit a learner's attempts whose time ran out (e.g. on a page view)."""
    ids = await expired_attempt_ids(session=session, user_id=user_id, now=now)
    return await close_attempts(session=session, now=now, ids=ids, ended_by=EndedBy.TIME_UP)


async def batch_name(*, session: AsyncSession, batch_id: int) -> str:
    """The name of a batch."""
    return await session.scalar(select(Batch.name).where(Batch.id == batch_id)) or ""


# ---------------------------------------------------------------------------- records


@dataclasses.dataclass
class RecordRow:
    attempt: Attempt
    batch_name: str

    @property
    def ended_label(self) -> str:
        if self.attempt.status == AttemptStatus.OPEN:
            return "进行中"
        return ENDED_LABELS.get(self.attempt.ended_by, "")

    @property
    def result_label(self) -> str:
        if self.attempt.status == AttemptStatus.OPEN:
            return "—"
        return "合格" if self.attempt.passed else "不合格"

    @property
    def score_text(self) -> str:
        return "—" if self.attempt.score is None else papers.fmt_points(self.attempt.score)


async def records(*, session: AsyncSession, user_id: int) -> list[RecordRow]:
    """考试记录: every attempt of a learner, newest first."""
    rows = await session.execute(
        select(Attempt, Batch.name)
        .join(Batch, Batch.id == Attempt.batch_id)
        .where(Attempt.user_id == user_id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc())
    )
    return [RecordRow(attempt, name) for attempt, name in rows]


async def next_deadline(*, session: AsyncSession) -> dt.datetime | None:
    """The earliest deadline of any open attempt (what the sweeper waits for)."""
    return await session.scalar(
        select(func.min(Attempt.deadline)).where(Attempt.status == AttemptStatus.OPEN)
    )
