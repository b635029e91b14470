"""Exam fixtures: a batch with a bank and a policy, and learners made eligible for real.

Eligibility is earned the way a learner earns it: the learning service records watched
video segments on enough distinct days (no shortcuts through the exam tables).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import select

from app.exams import answers, attempts, grading, joining, policies
from app.exams import paper as papers
from app.exams.models import Attempt, Question
from app.learning import credit
from app.learning.models import Batch, CourseKind, Video
from devtools.demo import exams as exams_demo

# A small paper keeps the tests quick: 4×10 + 2×20 + 2×10 = 100 points.
SMALL = dict(
    single_count=4,
    single_points=10.0,
    multiple_count=2,
    multiple_points=20.0,
    judge_count=2,
    judge_points=10.0,
)


@dataclasses.dataclass
class ExamBatch:
    batch: Batch
    bank_id: int
    videos: list[Video]  # [public required 120 s, professional 60 s]


class Exams:
    """Builds exam data for a test through the real services."""

    def __init__(self, svc, factory) -> None:
        self.svc = svc
        self.factory = factory
        self.batches = 0

    async def batch(self, *, name=None, policy=None, **fields) -> ExamBatch:
        """A batch open for exams now, needing 3 minutes (2 public) on 2 study days."""
        now = self.svc.now()
        self.batches += 1
        name = name or ("考试测试批次" if self.batches == 1 else f"考试测试批次{self.batches}")
        batch = await self.factory.batch(
            name,
            required_minutes=fields.pop("required_minutes", 3),
            required_public_minutes=fields.pop("required_public_minutes", 2),
            min_study_days=fields.pop("min_study_days", 2),
            study_days=60,
            exam_opens_at=fields.pop("exam_opens_at", now - dt.timedelta(hours=1)),
            exam_closes_at=fields.pop("exam_closes_at", now + dt.timedelta(days=30)),
        )
        courses, by_course = await self.factory.courses(
            batch,
            [
                ("安全生产法律法规", CourseKind.PUBLIC, True, [120], None),
                ("化工安全", CourseKind.PROFESSIONAL, False, [60], None),
            ],
        )
        videos = [by_course[course.id][0] for course in courses]
        async with self.svc.db.write() as db:
            bank = await exams_demo.seed_bank(session=db, now=now)
            await policies.set_policy(
                session=db,
                batch_id=batch.id,
                bank_id=bank.id,
                now=now,
                **(SMALL if policy is None else policy),
            )
        return ExamBatch(batch=batch, bank_id=bank.id, videos=videos)

    async def learner(self, batch: ExamBatch, **fields):
        """A learner enrolled in the batch who has studied nothing yet."""
        user = await self.factory.user(**fields)
        await self.factory.enrol(user.id, batch.batch.id)
        return user

    async def study(self, user, batch: ExamBatch, *, videos=None, days_ago=(1, 0)) -> None:
        """Watch videos completely, spreading the watching over the given days."""
        for video in videos if videos is not None else batch.videos:
            seconds = video.duration_ms / 1000
            step = seconds / len(days_ago)
            for i, ago in enumerate(days_ago):
                async with self.svc.db.write() as db:
                    await credit.record_watched(
                        session=db,
                        user_id=user.id,
                        video_id=video.id,
                        start_s=i * step,
                        end_s=(i + 1) * step,
                        at=self.svc.now() - dt.timedelta(days=ago),
                    )

    async def eligible(self, batch: ExamBatch, **fields):
        user = await self.learner(batch, **fields)
        await self.study(user, batch)
        return user

    async def start(self, user, batch: ExamBatch) -> Attempt:
        """What the start route does: submit what ran out, draw a paper, store the attempt."""
        async with self.svc.db.write() as db:
            await grading.close_expired_for(session=db, user_id=user.id, now=self.svc.now())
        async with self.svc.db.read() as db:
            plan = await attempts.plan_attempt(
                session=db, user_id=user.id, batch_id=batch.batch.id, now=self.svc.now()
            )
        async with self.svc.db.write() as db:
            return await attempts.start_attempt(session=db, plan=plan, now=self.svc.now())

    async def join(self, attempt: Attempt, tab="tab-aaaaaaaa", other=False) -> joining.JoinOutcome:
        async with self.svc.db.write() as db:
            return await joining.join(
                session=db,
                attempt_id=attempt.id,
                user_id=attempt.user_id,
                tab=tab,
                other_tab_connected=other,
                now=self.svc.now(),
            )

    async def key(self, attempt: Attempt) -> dict[int, str]:
        """The right answer to each question of the paper, in display letters."""
        items = papers.paper_from_json(attempt.paper)
        async with self.svc.db.read() as db:
            keys = dict(
                (
                    await db.execute(
                        select(Question.id, Question.answer).where(
                            Question.id.in_([i.question_id for i in items])
                        )
                    )
                ).all()
            )
        return {i.question_id: papers.to_display(keys[i.question_id], i) for i in items}

    async def secrets(self, attempt: Attempt) -> list[str]:
        """Texts that must never reach the browser before submission: the explanations."""
        items = papers.paper_from_json(attempt.paper)
        async with self.svc.db.read() as db:
            rows = await db.scalars(
                select(Question.explanation).where(Question.id.in_([i.question_id for i in items]))
            )
            return [text for text in rows if text]

    async def save(
        self, attempt: Attempt, values: dict[int, str], *, seq_from=1, tab="tab-aaaaaaaa"
    ):
        saves = [
            answers.Save(attempt.id, attempt.user_id, tab, qid, value, seq_from + n)
            for n, (qid, value) in enumerate(values.items())
        ]
        async with self.svc.db.write() as db:
            return await answers.save_answers(session=db, saves=saves, now=self.svc.now())

    async def reload(self, attempt: Attempt) -> Attempt:
        async with self.svc.db.read() as db:
            return await db.get(Attempt, attempt.id)


@pytest.fixture
def exams(svc, factory):
    return Exams(svc, factory)


def paper_of(attempt: Attempt) -> list[papers.PaperItem]:
    return papers.paper_from_json(attempt.paper)


def graded(attempt: Attempt) -> dict[str, list]:
    return json.loads(attempt.graded_answers or "{}")
