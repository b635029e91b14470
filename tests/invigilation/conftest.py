"""Invigilation fixtures: exam sessions with learners sitting them and invigilators assigned,
built through the real services (the exam fixtures make the learners eligible)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.exams.models import Attempt, ExamSession
from app.invigilation import assignments
from tests.exams.conftest import SMALL, ExamBatch, Exams

PASSWORD = "Str0ng-Pass!"


@dataclasses.dataclass
class Sitting:
    """A batch, one of its exam sessions, and the learners (eligible) who sit in it."""

    batch: ExamBatch
    exam_session: ExamSession
    learners: list


class Proctoring(Exams):
    """Exam data plus sessions, invigilators and admins, through the real services."""

    async def exam_session(
        self,
        batch: ExamBatch,
        *,
        name: str = "第一考场",
        id_numbers=(),
        starts=dt.timedelta(minutes=-30),
        ends=dt.timedelta(hours=3),
    ) -> ExamSession:
        now = self.svc.now()
        admin = await self.admin()
        async with self.svc.db.write() as db:
            return await assignments.create_session(
                session=db,
                batch_id=batch.batch.id,
                name=name,
                starts_at=now + starts,
                ends_at=now + ends,
                id_numbers=list(id_numbers),
                now=now,
                actor_id=admin.id,
            )

    async def admin(self):
        if not hasattr(self, "_admin"):
            self._admin = await self.factory.user(roles=("admin",), name="管理员")
        return self._admin

    async def invigilator(self, exam_session: ExamSession | None = None, **fields):
        """An invigilator, assigned to the session when one is given."""
        fields.setdefault("name", "王监考")
        user = await self.factory.user(roles=("invigilator",), **fields)
        if exam_session is not None:
            await self.assign(exam_session, user)
        return user

    async def assign(self, exam_session: ExamSession, user) -> None:
        admin = await self.admin()
        async with self.svc.db.write() as db:
            await assignments.assign(
                session=db,
                session_id=exam_session.id,
                id_number=user.id_number,
                now=self.svc.now(),
                actor_id=admin.id,
            )

    async def sitting(
        self, learners: int = 1, *, policy=None, session_ends=dt.timedelta(hours=3), **batch_fields
    ) -> Sitting:
        """A batch with an everyone-session running now and eligible learners in it."""
        batch = await self.batch(policy=policy, **batch_fields)
        people = [await self.eligible(batch, name=f"考生{n + 1}") for n in range(learners)]
        exam_session = await self.exam_session(batch, ends=session_ends)
        return Sitting(batch, exam_session, people)

    async def attempt(self, attempt_id: int) -> Attempt:
        async with self.svc.db.read() as db:
            return await db.get(Attempt, attempt_id)

    async def audit_count(self, action: str | None = None) -> int:
        async with self.svc.db.read() as db:
            query = select(func.count(AuditEntry.id))
            if action:
                query = query.where(AuditEntry.action == action)
            return await db.scalar(query)


@pytest.fixture
def proctoring(svc, factory):
    return Proctoring(svc, factory)


__all__ = ["SMALL", "PASSWORD", "Proctoring", "Sitting"]
