"""考试记录: every attempt of a learner."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.exams import paper as papers
from app.exams.models import ENDED_LABELS, Attempt, AttemptEvent
from app.learning.models import Batch


@dataclasses.dataclass
class RecordRow:
    attempt: Attempt
    batch_name: str

    @property
    def ended_label(self) -> str:
        if self.attempt.is_open:
            return "进行中"
        return ENDED_LABELS.get(self.attempt.ended_by, "")

    @property
    def result_label(self) -> str:
        if self.attempt.is_open:
            return "—"
        if self.attempt.is_voided:
            return "已作废"
        return "合格" if self.attempt.passed else "不合格"

    @property
    def score_text(self) -> str:
        if self.attempt.score is None or self.attempt.is_voided:
            return "—"
        return papers.fmt_points(self.attempt.score)

    @property
    def void_note(self) -> str:
        """Why it was voided, and whether it used up a chance."""
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


EVENT_LABELS = {
    "join": "进入考试",
    "reconnect": "断线后重新连接",
    "resume": "重新进入考试",
    "second_device": "其他窗口或设备接管试卷",
    "second_device_refused": "拒绝其他窗口或设备进入",
    "focus_lost": "离开考试页面",
    "extended": "延长考试时间",
    "submitted": "交卷",
    "time_up": "时间到自动交卷",
    "forfeited": "作废",
    "invigilator": "监考员强制交卷",
}


async def events_of(
    *, session: AsyncSession, attempt_ids: list[int]
) -> dict[int, list[AttemptEvent]]:
    """The history of each attempt (joins, reconnects, focus, devices), oldest first."""
    found: dict[int, list[AttemptEvent]] = {i: [] for i in attempt_ids}
    if attempt_ids:
        rows = await session.scalars(
            select(AttemptEvent)
            .where(AttemptEvent.attempt_id.in_(attempt_ids))
            .order_by(AttemptEvent.at, AttemptEvent.id)
        )
        for event in rows:
            found[event.attempt_id].append(event)
    return found


async def attempt_count(*, session: AsyncSession, user_id: int, batch_id: int) -> int:
    """How many attempts a learner made in a batch (any state)."""
    return await session.scalar(
        select(func.count(Attempt.id)).where(
            Attempt.user_id == user_id, Attempt.batch_id == batch_id
        )
    )
