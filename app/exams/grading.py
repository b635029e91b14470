"""Closing and grading attempts: the learner's submit, the deadline sweep, the invigilator.

Closing an attempt is a conditional UPDATE on its status, so a learner's submit, the
deadline sweeper in any number of processes and an invigilator can race and only one wins.
Every close records ``AttemptClosed``: once the unit of work commits, the pages are told
and the certificates of passed attempts are queued.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.errors import AppError, NotFound
from app.exams import paper as papers
from app.exams.attempts import expired_attempt_ids, get_attempt
from app.exams.events import AttemptClosed
from app.exams.models import Answer, Attempt, AttemptEvent, Question
from app.exams.statuses import NEVER_PASSES, AttemptStatus, EndedBy, ended_label

# How many expired attempts one sweeper transaction closes: small enough that the SQLite
# write lock is never held for long, large enough that 3,000 papers close within a second.
SWEEP_CHUNK = 1000


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
    session_id: int | None = None
    void_reason: str = ""
    uses_attempt: bool = True

    @property
    def message(self) -> str:
        score = papers.fmt_points(self.score)
        if self.ended_by == EndedBy.FORFEITED:
            head = "本次考试已作废：考试过程中关闭了浏览器或离开了考试页面（按本批次考试规则）。"
        elif self.ended_by == EndedBy.VOIDED:
            head = f"本次考试已被监考员作废（原因：{self.void_reason}），成绩无效。"
            if not self.uses_attempt:
                head += "本次考试不计入考试次数。"
        elif self.passed:
            prefix = {
                EndedBy.INVIGILATOR: self._forced(),
                EndedBy.FOCUS_LOST: "您离开考试页面的次数已达上限，系统已自动交卷。",
            }.get(self.ended_by, "恭喜您！")
            return f"{prefix}您的考试成绩为 {score} 分，考试合格！请到“考试记录”中查看成绩，合格证书生成后可下载打印。"
        elif self.ended_by == EndedBy.INVIGILATOR:
            head = f"{self._forced()}很遗憾！您的考试成绩为 {score} 分，考试未通过！"
        elif self.ended_by == EndedBy.FOCUS_LOST:
            head = f"您离开考试页面的次数已达上限，系统已自动交卷。很遗憾！您的考试成绩为 {score} 分，考试未通过！"
        else:
            head = f"很遗憾！您的考试成绩为 {score} 分，考试未通过！"
        if self.attempts_left > 0:
            return head + f"您还有 {self.attempts_left} 次考试的机会，继续努力吧！"
        return head + "您的考试机会已用完，需在下一批继续教育报名时重新报名、学习、考试。"

    def _forced(self) -> str:
        """The invigilator handed the paper in: with their reason, as a void gives its own."""
        reason = f"（原因：{self.void_reason}）" if self.void_reason else ""
        return f"监考强制交卷{reason}。"

    def to_dict(self) -> dict[str, object]:
        return {
            "attempt_id": self.attempt_id,
            "score": self.score,
            "score_text": papers.fmt_points(self.score),
            "passed": self.passed,
            "ended_by": self.ended_by,
            "ended_label": ended_label(self.ended_by),
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
        # A voided attempt that the batch does not count is no chance used.
        rows = await session.execute(
            select(Attempt.user_id, Attempt.batch_id, func.count())
            .where(
                Attempt.user_id.in_(users[start : start + SWEEP_CHUNK]),
                Attempt.uses_attempt.is_(True),
            )
            .group_by(Attempt.user_id, Attempt.batch_id)
        )
        used.update({(u, b): n for u, b, n in rows})
    return {
        attempt_id: 0 if passed else max(0, rules.max_attempts - used.get((user_id, batch_id), 0))
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
    note: str = "",
) -> list[Result]:
    """Close and grade open attempts (given ones, or those past their deadline).

    Each attempt is claimed by one conditional UPDATE, so when processes race it is closed
    exactly once; it is graded in the same transaction from every answer committed before,
    so an acknowledged answer is always part of the grade."""
    if ids is not None and not ids:
        return []
    claimed = await _claim(
        session, now=now, ended_by=ended_by, ids=ids, expired_only=expired_only, limit=limit
    )
    if not claimed:
        return []
    graded = await _grade(session, claimed, ended_by=ended_by)
    await _write_grades(session, graded, ended_by=ended_by, now=now, note=note)
    left = await _attempts_left(
        session=session,
        attempts=[(g.id, g.user_id, g.batch_id, g.rules, g.passed) for g in graded],
    )
    results = [
        Result(
            attempt_id=g.id,
            user_id=g.user_id,
            batch_id=g.batch_id,
            score=g.score,
            passed=g.passed,
            ended_by=ended_by,
            attempts_left=left[g.id],
            session_id=g.session_id,
            void_reason=g.void_reason,
            uses_attempt=g.uses_attempt,
        )
        for g in graded
    ]
    for result in results:
        events.record(session, AttemptClosed(result))
    return results


async def _claim(
    session: AsyncSession,
    *,
    now: dt.datetime,
    ended_by: str,
    ids: Sequence[int] | None,
    expired_only: bool,
    limit: int,
) -> list[int]:
    """Move open attempts to closed in one conditional UPDATE; the ids this call won."""
    conditions = [Attempt.status == AttemptStatus.OPEN]
    if expired_only:
        conditions.append(Attempt.deadline <= now)
    if ids is not None:
        conditions.append(Attempt.id.in_(list(ids)))
    candidates = (
        select(Attempt.id)
        .where(*conditions)
        .order_by(Attempt.deadline)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(
        await session.scalars(
            update(Attempt)
            .where(Attempt.id.in_(candidates), *conditions)
            .values(status=AttemptStatus.CLOSED, ended_at=now, ended_by=ended_by)
            .returning(Attempt.id)
            .execution_options(synchronize_session=False)
        )
    )


@dataclasses.dataclass
class _Graded:
    id: int
    user_id: int
    batch_id: int
    rules: papers.Rules
    score: float
    passed: bool
    answers: dict[int, tuple[str, int]]  # question id -> (value, seq): what was graded
    session_id: int | None
    void_reason: str
    uses_attempt: bool


async def _grade(session: AsyncSession, claimed: list[int], *, ended_by: str) -> list[_Graded]:
    """Score claimed attempts from their committed answers (a forfeit scores nothing; a
    voided paper is scored for the record but never passes)."""
    forfeited = ended_by == EndedBy.FORFEITED
    attempts = list(
        await session.execute(
            select(
                Attempt.id,
                Attempt.user_id,
                Attempt.batch_id,
                Attempt.rules,
                Attempt.paper,
                Attempt.session_id,
                Attempt.void_reason,
                Attempt.uses_attempt,
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
    items = {}
    for a in attempts:
        paper = json.loads(a.paper)
        items[a.id] = [
            papers.PaperItem(qid, *paper[str(qid)])
            for qid, (value, _seq) in answers[a.id].items()
            if value and str(qid) in paper
        ]
    question_ids = {item.question_id for listed in items.values() for item in listed}
    keys = dict(
        (
            await session.execute(
                select(Question.id, Question.answer).where(Question.id.in_(question_ids))
            )
        ).all()
    )
    graded = []
    for a in attempts:
        rules = papers.rules_from_json(a.rules)
        given = {qid: value for qid, (value, _seq) in answers[a.id].items()}
        score = 0.0 if forfeited else papers.grade(rules, items[a.id], given, keys)
        passed = score >= rules.pass_mark and ended_by not in NEVER_PASSES
        graded.append(
            _Graded(
                a.id,
                a.user_id,
                a.batch_id,
                rules,
                score,
                passed,
                answers[a.id],
                a.session_id,
                a.void_reason or "",
                a.uses_attempt,
            )
        )
    return graded


async def _write_grades(
    session: AsyncSession, graded: list[_Graded], *, ended_by: str, now: dt.datetime, note: str
) -> None:
    """Store the scores and the answers they came from, and the closing in each history."""
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
        [
            {
                "b_id": g.id,
                "score": g.score,
                "passed": g.passed,
                "graded_answers": json.dumps(
                    {str(q): [v, s] for q, (v, s) in sorted(g.answers.items())}
                ),
            }
            for g in graded
        ],
    )
    await session.execute(
        insert(AttemptEvent.__table__),
        [
            {
                "attempt_id": g.id,
                "at": now,
                "kind": ended_by,
                "detail": (f"原因：{note or g.void_reason}；" if note or g.void_reason else "")
                + f"得分 {papers.fmt_points(g.score)}",
            }
            for g in graded
        ],
    )
    # Attempts this session already holds as objects must not keep their old state.
    ids = {g.id for g in graded}
    held = [
        obj
        for obj in list(session.identity_map.values())
        if isinstance(obj, Attempt) and obj.id in ids
    ]
    for obj in held:
        await session.refresh(obj)


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
    if attempt.is_open:
        ended_by = EndedBy.SUBMITTED if now < attempt.deadline else EndedBy.TIME_UP
        results = await close_attempts(
            session=session, now=now, ids=[attempt.id], ended_by=ended_by
        )
        if results:
            return results[0]
        await _settled(session, attempt)
    return await result_of(session=session, attempt=attempt)


async def _settled(session: AsyncSession, attempt: Attempt) -> None:
    """Read an attempt that another transaction has just claimed. On PostgreSQL the claim
    skips locked rows, so the winner (the deadline sweeper, say) may not have committed yet:
    wait for its lock, then read what it wrote (SQLite's writers already take turns)."""
    await session.execute(select(Attempt.id).where(Attempt.id == attempt.id).with_for_update())
    await session.refresh(attempt)


ALREADY_ENDED = "该考生的本次考试已结束（{label}），不能强制交卷"


async def force_submit(
    *, session: AsyncSession, attempt_id: int, now: dt.datetime, why: str = ""
) -> Result:
    """An invigilator ends a learner's attempt now, with every acknowledged answer; an
    attempt that already ended is refused and left as it was."""
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None:
        raise NotFound("考试不存在")
    results = []
    if attempt.is_open:
        # Kept with the attempt (as a void's reason is), so the learner's dialog and
        # 考试记录 give the invigilator's reason, then and later.
        await session.execute(
            update(Attempt)
            .where(Attempt.id == attempt_id, Attempt.status == AttemptStatus.OPEN)
            .values(void_reason=why[:200] or None)
            .execution_options(synchronize_session=False)
        )
        results = await close_attempts(
            session=session, now=now, ids=[attempt_id], ended_by=EndedBy.INVIGILATOR, note=why
        )
    if not results:
        await _settled(session, attempt)
        label = ended_label(attempt.ended_by) or "已交卷"
        raise AppError("attempt_closed", ALREADY_ENDED.format(label=label), 409)
    return results[0]


async def result_of(*, session: AsyncSession, attempt: Attempt) -> Result:
    """The result of a closed attempt."""
    if not attempt.is_closed:
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
        session_id=attempt.session_id,
        void_reason=attempt.void_reason or "",
        uses_attempt=attempt.uses_attempt,
    )


async def close_expired_for(
    *, session: AsyncSession, user_id: int, now: dt.datetime
) -> list[Result]:
    """Opportunistically submit a learner's attempts whose time ran out (e.g. on a page view)."""
    ids = await expired_attempt_ids(session=session, user_id=user_id, now=now)
    return await close_attempts(session=session, now=now, ids=ids, ended_by=EndedBy.TIME_UP)
