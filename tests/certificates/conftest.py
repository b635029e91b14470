"""Certificate fixtures: learners with real ID photos and passed attempts.

The passed attempt is written straight into the exam tables (the exam area's own tests
cover how one is earned); the photo goes through the real profile service.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.certificates import issuing
from app.certificates.models import Certificate
from app.exams.models import Attempt
from app.learning.models import Batch
from app.profile import service as profile
from devtools.demo.photo import id_photo


class Certs:
    """Builds certificate test data through the real services where they exist."""

    def __init__(self, svc, factory) -> None:
        self.svc = svc
        self.factory = factory
        self._batch: Batch | None = None

    async def batch(self, **fields) -> Batch:
        """A 48-学时 batch (1920 minutes), made once per test unless fields are given."""
        custom = bool(fields)
        if self._batch is not None and not custom:
            return self._batch
        fields.setdefault("required_minutes", 1920)
        fields.setdefault("required_public_minutes", 640)
        batch = await self.factory.batch(
            fields.pop("name", "注册安全工程师继续教育 2026年第一期"),
            study_days=30,
            exam_opens_in=-1,
            exam_days=31,
            **fields,
        )
        if not custom:
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
        return await self.factory.closed_attempt(user, batch, passed=passed, score=score)

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
