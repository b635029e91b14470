"""考试记录: every attempt of a learner."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.exams import paper as papers
from app.exams import statuses
from app.exams.models import Attempt, AttemptEvent
from app.learning.models import Batch


@dataclasses.dataclass
class RecordRow:
    attempt: Attempt
    batch_name: str

    @property
    def ended_label(self) -> str:
        if self.attempt.is_open:
            return statuses.OPEN_LABEL
        return statuses.ended_label(self.attempt.ended_by)

    @property
    def result_label(self) -> str:
        a = self.attempt
        return statuses.result_label(status=a.status, ended_by=a.ended_by, passed=a.passed)

    @property
    def score_text(self) -> str:
        if self.attempt.score is None or self.attempt.is_voided:
            return "—"
        return papers.fmt_points(self.attempt.score)

    @property
    def void_note(self) -> str:
        """Why it was voided (and whether it used up a chance), or why it was handed in by
        the invigilator."""
        if self.attempt.ended_by == statuses.EndedBy.INVIGILATOR and self.attempt.void_reason:
            return f"强制交卷原因：{self.attempt.void_reason}"
        if not self.attempt.is_voided:
            return ""
        counted = "计入考试次数" if self.attempt.uses_attempt else "不计入考试次数"
        return f"作废原因：{self.attempt.void_reason or '—'}（{counted}）"


async def records(*, session: AsyncSession, user_id: int) -> list[RecordRow]:
    """考试记录: every attempt of a learner, newest first."""
    rows = await session.execute(
        select(Attempt, Batch.name)
        .join(Batch, Batch.id == Attempt.batch_id)
        .where(Attempt.user_id == user_id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc())
    )
    return [RecordRow(attempt, name) for attempt, name in rows]


@dataclasses.dataclass(frozen=True)
class EventView:
    """One entry of an attempt's history as people read it (labels and user agents)."""

    at: dt.datetime
    kind: str
    detail_raw: str

    @property
    def label(self) -> str:
        return statuses.event_label(self.kind)

    @property
    def detail(self) -> str:
        return statuses.event_detail(self.kind, self.detail_raw)


async def events_of(*, session: AsyncSession, attempt_ids: list[int]) -> dict[int, list[EventView]]:
    """The history of each attempt (joins, reconnects, focus, devices), oldest first."""
    found: dict[int, list[EventView]] = {i: [] for i in attempt_ids}
    if attempt_ids:
        rows = await session.scalars(
            select(AttemptEvent)
            .where(AttemptEvent.attempt_id.in_(attempt_ids))
            .order_by(AttemptEvent.at, AttemptEvent.id)
        )
        for event in rows:
            found[event.attempt_id].append(EventView(event.at, event.kind, event.detail))
    return found


async def attempt_count(*, session: AsyncSession, user_id: int, batch_id: int) -> int:
    """How many attempts a learner made in a batch (any state)."""
    return await session.scalar(
        select(func.count(Attempt.id)).where(
            Attempt.user_id == user_id, Attempt.batch_id == batch_id
        )
    )
