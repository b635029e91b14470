"""The demo's 考场: a session of the demo batch running now, for every learner enrolled
in it, invigilated by the demo invigilator, so 李监考 finds a live dashboard at once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.exams.models import ExamSession
from app.invigilation import assignments
from app.learning.models import Batch

DEMO_SESSION = "演示考场（第一考场）"


async def seed(
    *, session: AsyncSession, batch: Batch, invigilator: User, admin: User, now: dt.datetime
) -> ExamSession:
    """Create the demo session (if missing) and assign the invigilator, as an admin would."""
    exam_session = await session.scalar(
        select(ExamSession).where(
            ExamSession.batch_id == batch.id, ExamSession.name == DEMO_SESSION
        )
    )
    if exam_session is None:
        exam_session = await assignments.create_session(
            session=session,
            batch_id=batch.id,
            name=DEMO_SESSION,
            starts_at=max(batch.exam_opens_at, now - dt.timedelta(hours=1)),
            ends_at=batch.exam_closes_at,
            id_numbers=[],
            now=now,
            actor_id=admin.id,
        )
    if not await assignments.is_assigned(
        session=session, session_id=exam_session.id, user_id=invigilator.id
    ):
        await assignments.assign(
            session=session,
            session_id=exam_session.id,
            id_number=invigilator.id_number,
            now=now,
            actor_id=admin.id,
        )
    return exam_session
