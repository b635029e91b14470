"""The dashboard's rows: one per learner of a session, connected or not, and the timeline.

A row is built from the learner's latest attempt in the session (the database: status,
deadline, counters, answers), whether a tab holds it now (Redis, ``exams.live``) and the
messages they read. The same function builds the whole snapshot and the few rows of a
delta, so both always agree.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import idcard
from app.accounts.models import User
from app.clock import epoch_ms
from app.errors import NotFound
from app.exams import live as exam_live
from app.exams import paper as papers
from app.exams import sessions, statuses
from app.exams.models import Answer, Attempt, AttemptEvent, ExamSession
from app.exams.statuses import AttemptStatus, EndedBy
from app.invigilation import live, messages
from app.profile import service as profile

# A row's state on the dashboard; the endings are named as the attempt vocabulary names them.
STATES = {
    "waiting": "未开始",
    "online": "作答中·在线",
    "offline": "离线",
    "submitted": "已交卷",
    "forced": statuses.ended_label(EndedBy.INVIGILATOR),
    "voided": statuses.VOIDED_LABEL,
}

_COLUMNS = (
    Attempt.id,
    Attempt.user_id,
    Attempt.number,
    Attempt.status,
    Attempt.started_at,
    Attempt.deadline,
    Attempt.ended_at,
    Attempt.ended_by,
    Attempt.score,
    Attempt.passed,
    Attempt.rules,
    Attempt.focus_losses,
    Attempt.reconnects,
    Attempt.second_devices,
    Attempt.ip_changes,
    Attempt.last_ip,
    Attempt.void_reason,
)


def _ms(value: dt.datetime | None) -> int | None:
    return epoch_ms(value) if value is not None else None


async def _attempts_of(
    session: AsyncSession, session_id: int, user_ids: list[int] | None
) -> tuple[dict[int, object], dict[int, dict[str, int]]]:
    """Each learner's latest attempt in the session (the row shows it), and how every
    closed attempt of theirs in the session ended (the counts: a forced paper followed by
    a re-sit stays counted). For a few learners the lookup goes by user (an index hit each)
    rather than by session (which would read every attempt row of a 3,000-learner session)."""
    query = select(Attempt.session_id, *_COLUMNS)
    if user_ids is not None:
        query = query.where(Attempt.user_id.in_(user_ids))
    else:
        query = query.where(Attempt.session_id == session_id)
    latest: dict[int, object] = {}
    ends: dict[int, dict[str, int]] = {}
    for row in await session.execute(query.order_by(Attempt.number)):
        if row.session_id == session_id:
            latest[row.user_id] = row
            if row.status == AttemptStatus.CLOSED:
                state, _ = _state(row, None)
                tally = ends.setdefault(row.user_id, {})
                tally[state] = tally.get(state, 0) + 1
    return latest, ends


async def _activity(
    session: AsyncSession, attempt_ids: list[int]
) -> tuple[dict[int, int], dict[int, dt.datetime]]:
    """Per attempt: questions answered, and the latest activity (by primary-key prefix, so a
    delta of a few rows never scans the session's answers)."""
    answered: dict[int, int] = {}
    last: dict[int, dt.datetime] = {}
    if not attempt_ids:
        return answered, last
    rows = await session.execute(
        select(
            Answer.attempt_id,
            func.sum(case((Answer.value != "", 1), else_=0)),
            func.max(Answer.saved_at),
        )
        .where(Answer.attempt_id.in_(attempt_ids))
        .group_by(Answer.attempt_id)
    )
    for attempt_id, count, saved_at in rows:
        answered[attempt_id] = int(count or 0)
        last[attempt_id] = _aware(saved_at)
    rows = await session.execute(
        select(AttemptEvent.attempt_id, func.max(AttemptEvent.at))
        .where(AttemptEvent.attempt_id.in_(attempt_ids))
        .group_by(AttemptEvent.attempt_id)
    )
    for attempt_id, at in rows:
        at = _aware(at)
        if attempt_id not in last or at > last[attempt_id]:
            last[attempt_id] = at
    return answered, last


def _aware(value: dt.datetime | str) -> dt.datetime:
    # Aggregates bypass the column type: SQLite hands back naive text, PostgreSQL naive UTC.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _state(attempt, present: tuple[bool, int | None] | None) -> tuple[str, int | None]:
    if attempt is None:
        return "waiting", None
    if attempt.status == "open":
        online, since = present or (False, None)
        return ("online", None) if online else ("offline", since)
    if attempt.ended_by == EndedBy.VOIDED:
        return "voided", None
    if attempt.ended_by == EndedBy.INVIGILATOR:
        return "forced", None
    return "submitted", None


async def rows(
    *,
    session: AsyncSession,
    redis,
    exam_session: ExamSession,
    user_ids: list[int] | None = None,
) -> list[dict[str, object]]:
    """The dashboard rows of a session (or of these learners in it), by name."""
    people = await sessions.members(session=session, exam_session=exam_session, user_ids=user_ids)
    ids = [p.id for p in people] if user_ids is not None else None
    attempts, ends = await _attempts_of(session, exam_session.id, ids)
    answered, last = await _activity(session, [a.id for a in attempts.values()])
    open_ids = [a.id for a in attempts.values() if a.status == "open"]
    presence = await exam_live.presence(redis, open_ids)
    reads = await messages.reads_of(session=session, session_id=exam_session.id, user_ids=ids)
    found = []
    for person in people:
        a = attempts.get(person.id)
        state, since = _state(a, presence.get(a.id) if a else None)
        row: dict[str, object] = {
            "uid": person.id,
            "name": person.name,
            "idm": idcard.mask(person.id_number),
            "photo": person.photo_file is not None,
            "state": state,
            "since": since,
            "reads": reads.get(person.id, {}),
            # Closed papers of this session by how they ended, for the counts.
            "ends": ends.get(person.id, {}),
        }
        if a is not None:
            ended_by = a.ended_by or ""
            row.update(
                aid=a.id,
                n=a.number,
                ended=statuses.ended_label(ended_by),
                score=None if a.score is None else papers.fmt_points(a.score),
                passed=a.passed,
                reason=a.void_reason or "",
                answered=answered.get(a.id, 0),
                total=papers.rules_from_json(a.rules).total_questions,
                started=_ms(a.started_at),
                deadline=_ms(a.deadline),
                ended_at=_ms(a.ended_at),
                focus=a.focus_losses,
                reconnects=a.reconnects,
                devices=a.second_devices,
                ipc=a.ip_changes,
                ip=a.last_ip,
                last=_ms(max(filter(None, (last.get(a.id), a.started_at, a.ended_at)))),
            )
        found.append(row)
    return found


async def snapshot(
    *, session: AsyncSession, redis, exam_session: ExamSession, now: dt.datetime
) -> dict[str, object]:
    """What a dashboard gets on (re)connect: the version, then every row and message.

    The version is read first: a delta numbered above it may repeat a row read here (the
    page applies it; it is at least as new), one numbered at or below it is already in."""
    version = await live.version(redis, exam_session.id)
    return {
        "version": version,
        "now": epoch_ms(now),
        "session": {
            "id": exam_session.id,
            "name": exam_session.name,
            "starts_at": epoch_ms(exam_session.starts_at),
            "ends_at": epoch_ms(exam_session.ends_at),
        },
        "rows": await rows(session=session, redis=redis, exam_session=exam_session),
        "messages": await messages.messages_of(session=session, session_id=exam_session.id),
    }


async def timeline(
    *, session: AsyncSession, exam_session: ExamSession, user_id: int
) -> list[dict[str, object]]:
    """A learner's history in a session: joins, reconnects, focus, devices, messages, time
    extended, submitted or voided; oldest first."""
    attempt_numbers = dict(
        (
            await session.execute(
                select(Attempt.id, Attempt.number).where(
                    Attempt.session_id == exam_session.id, Attempt.user_id == user_id
                )
            )
        ).all()
    )
    entries: list[tuple[dt.datetime, str, str, int | None]] = []
    if attempt_numbers:
        for event in await session.scalars(
            select(AttemptEvent)
            .where(AttemptEvent.attempt_id.in_(list(attempt_numbers)))
            .order_by(AttemptEvent.at, AttemptEvent.id)
        ):
            entries.append((event.at, event.kind, event.detail, attempt_numbers[event.attempt_id]))
    for at, kind, detail in await messages.history_of(
        session=session, session_id=exam_session.id, user_id=user_id
    ):
        entries.append((at, kind, detail, None))
    entries.sort(key=lambda e: e[0])
    return [
        {
            "at": epoch_ms(at),
            "kind": kind,
            "label": statuses.event_label(kind),
            "detail": statuses.event_detail(kind, detail),
            "attempt": number,
        }
        for at, kind, detail, number in entries
    ]


async def learner_photo(
    *, session: AsyncSession, exam_session: ExamSession, user_id: int, config
) -> Path:
    """The ID photo of a learner of this session (the identity check), or NotFound."""
    if not await sessions.is_member(session=session, exam_session=exam_session, user_id=user_id):
        raise NotFound(messages.NOT_A_MEMBER)
    user = await session.get(User, user_id)
    path = profile.photo_path(config, user) if user is not None else None
    if path is None:
        raise NotFound("该考生尚未上传照片")
    return path
