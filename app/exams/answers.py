"""Autosaved answers: which saves may be stored, and storing many in one transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import DateTime, Integer, String, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError, NotFound
from app.exams.attempts import ATTEMPT_NOT_FOUND
from app.exams.models import Answer, Attempt
from app.exams.statuses import AttemptStatus


@dataclasses.dataclass(frozen=True)
class Save:
    """One validated autosave, waiting to be committed."""

    attempt_id: int
    user_id: int
    tab: str
    question_id: int
    value: str
    seq: int


def _sqlite_upsert() -> object:
    stmt = sqlite_insert(Answer.__table__)
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
SQLITE_UPSERT = _sqlite_upsert()
ATTEMPTS = select(Attempt.id, Attempt.user_id, Attempt.status, Attempt.deadline, Attempt.tab)
# PostgreSQL: the same two statements whatever the batch's size, so that each is prepared
# once per connection (a list of ids, or rows of VALUES, would make a new statement text,
# and a new prepare, for every size of batch): the ids as one array, the rows as arrays.
PG_ATTEMPTS = ATTEMPTS.where(
    Attempt.id == any_(bindparam("ids", type_=ARRAY(Integer)))
).with_for_update(read=True)
PG_UPSERT = text(
    "INSERT INTO exam_answers (attempt_id, question_id, value, seq, saved_at) "
    "SELECT * FROM unnest(CAST(:attempt_ids AS integer[]), CAST(:question_ids AS integer[]), "
    "CAST(:values AS varchar[]), CAST(:seqs AS integer[]), CAST(:saved AS timestamp[])) "
    "ON CONFLICT (attempt_id, question_id) DO UPDATE SET value = excluded.value, "
    "seq = excluded.seq, saved_at = excluded.saved_at WHERE exam_answers.seq < excluded.seq"
).bindparams(
    bindparam("attempt_ids", type_=ARRAY(Integer)),
    bindparam("question_ids", type_=ARRAY(Integer)),
    bindparam("values", type_=ARRAY(String)),
    bindparam("seqs", type_=ARRAY(Integer)),
    bindparam("saved", type_=ARRAY(DateTime)),
)


CLOSED_ERROR = AppError("attempt_closed", "本次考试已结束，答案不能再修改", 409)
TIME_UP_ERROR = AppError("time_up", "考试时间已到，答案不能再保存", 409)
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
    postgresql = session.bind.dialect.name == "postgresql"
    # On PostgreSQL this waits for a concurrent close, so nothing is stored after grading.
    if postgresql:
        rows = await session.execute(PG_ATTEMPTS, {"ids": ids})
    else:
        rows = await session.execute(ATTEMPTS.where(Attempt.id.in_(ids)))
    outcomes, latest = judge_saves(saves, {row.id: tuple(row)[1:] for row in rows}, now)
    if not latest:
        return outcomes
    stored = list(latest.values())
    if postgresql:
        await session.execute(
            PG_UPSERT,
            {
                "attempt_ids": [s.attempt_id for s in stored],
                "question_ids": [s.question_id for s in stored],
                "values": [s.value for s in stored],
                "seqs": [s.seq for s in stored],
                # As app.db.UTCDateTime stores instants: naive UTC.
                "saved": [now.astimezone(dt.UTC).replace(tzinfo=None)] * len(stored),
            },
        )
    else:
        await session.execute(
            SQLITE_UPSERT,
            [
                {
                    "attempt_id": s.attempt_id,
                    "question_id": s.question_id,
                    "value": s.value,
                    "seq": s.seq,
                    "saved_at": now,
                }
                for s in stored
            ],
        )
    return outcomes
