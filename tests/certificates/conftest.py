"""Certificate fixtures: learners with real ID photos and passed attempts.

The passed attempt is written straight into the exam tables (the exam area's own tests
cover how one is earned); the photo goes through the real profile service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.certificates import issuing
from app.certificates.models import Certificate
from app.exams.models import Attempt, AttemptStatus, EndedBy
from app.learning.models import Batch, Enrolment
from app.profile import service as profile
from app.profile.demo import id_photo


class Certs:
    """Builds certificate test data through the real services where they exist."""

    def __init__(self, svc, factory) -> None:
        self.svc = svc
        self.factory = factory
        self._batch: Batch | None = None

    async def batch(self, **fields) -> Batch:
        """A 48-学时 batch (1920 minutes), made once per test unless fields are given."""
        if self._batch is not None and not fields:
            return self._batch
        now = self.svc.now()
        async with self.svc.db.write() as db:
            batch = Batch(
                name=fields.pop("name", "注册安全工程师继续教育 2026年第一期"),
                required_minutes=fields.pop("required_minutes", 1920),
                required_public_minutes=fields.pop("required_public_minutes", 640),
                min_study_days=10,
                study_deadline=now + dt.timedelta(days=30),
                exam_opens_at=now - dt.timedelta(days=1),
                exam_closes_at=now + dt.timedelta(days=30),
                created_at=now,
            )
            db.add(batch)
        if not fields:
            self._batch = batch
        return batch

    async def learner(self, *, photo: bool = True, **fields) -> User:
        """A learner, by default with an uploaded ID photo."""
        fields.setdefault("name", "张安全")
        fields.setdefault("work_unit", "天津某建设集团有限公司")
        user = await self.factory.user(**fields)
        if photo:
            await self.upload_photo(user)
        return user

    async def upload_photo(self, user: User, seed: int = 7) -> None:
        async with self.svc.db.write() as db:
            fresh = await db.get(User, user.id)
            await profile.upload_photo(
                session=db,
                config=self.svc.config,
                now=self.svc.now(),
                user=fresh,
                data=id_photo(seed),
            )
            user.photo_file = fresh.photo_file

    async def attempt(
        self, user: User, *, passed: bool = True, score: float = 86.5, batch: Batch | None = None
    ) -> Attempt:
        """A closed attempt of the learner in the batch, graded as given."""
        batch = batch or await self.batch()
        now = self.svc.now()
        async with self.svc.db.write() as db:
            if not await db.scalar(
                select(Enrolment.id).where(
                    Enrolment.user_id == user.id, Enrolment.batch_id == batch.id
                )
            ):
                db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=now))
            number = 1 + len(
                list(
                    await db.scalars(
                        select(Attempt.id).where(
                            Attempt.user_id == user.id, Attempt.batch_id == batch.id
                        )
                    )
                )
            )
            attempt = Attempt(
                user_id=user.id,
                batch_id=batch.id,
                number=number,
                seed=12345,
                rules=json.dumps({}),
                paper=json.dumps([]),
                status=AttemptStatus.CLOSED,
                started_at=now - dt.timedelta(minutes=50),
                deadline=now + dt.timedelta(minutes=70),
                ended_at=now,
                ended_by=EndedBy.SUBMITTED,
                score=score,
                passed=passed,
                graded_answers=json.dumps({}),
            )
            db.add(attempt)
        return attempt

    async def passed(self, **fields) -> tuple[User, Attempt]:
        user = await self.learner(**fields)
        return user, await self.attempt(user)

    async def certificate(self, attempt_id: int) -> Certificate | None:
        async with self.svc.db.read() as db:
            return await db.scalar(select(Certificate).where(Certificate.attempt_id == attempt_id))

    async def all(self) -> list[Certificate]:
        async with self.svc.db.read() as db:
            return list(await db.scalars(select(Certificate).order_by(Certificate.id)))

    async def wait_for(self, attempt_id: int, *states: str, timeout: float = 15) -> Certificate:
        """Poll until the attempt's certificate reaches one of the states (the worker runs)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            certificate = await self.certificate(attempt_id)
            if certificate is not None and certificate.state in states:
                return certificate
            if loop.time() > deadline:
                state = certificate.state if certificate else None
                raise AssertionError(f"certificate stayed {state!r}, wanted {states}")
            await asyncio.sleep(0.05)


async def wait_certificate_jobs_done(redis, timeout: float = 15) -> None:
    """Poll until arq has no certificate job queued or running (other jobs may be)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        queued = await redis.zcard(issuing.QUEUE)
        running = await redis.keys("arq:in-progress:certificate:*")
        if not queued and not running:
            return
        assert loop.time() < deadline, "the worker did not finish its certificate jobs"
        await asyncio.sleep(0.05)


@pytest.fixture
def certs(svc, factory):
    return Certs(svc, factory)
