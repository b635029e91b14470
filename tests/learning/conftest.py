"""Learning fixtures: a batch with courses and videos, and learners enrolled in it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest

from app.errors import AppError
from app.learning import answers, playback, study
from app.learning.models import Batch, Course, CourseKind, Material, Video
from app.learning.study import StudyRules
from devtools.demo.learning import DEMO_MEDIA

SAMPLE_VIDEO = DEMO_MEDIA / "law-1.mp4"  # 60 s, H.264 in MP4


@dataclasses.dataclass
class Catalogue:
    batch: Batch
    courses: list[Course]
    videos: dict[int, list[Video]]  # course id -> videos


class Learning:
    """Builds learning data for a test through the real database."""

    def __init__(self, svc, factory) -> None:
        self.svc = svc
        self.factory = factory
        self.rules = StudyRules()

    async def batch(self, *, courses=None, name="测试批次", **fields) -> Catalogue:
        """A batch with courses; each course spec is (name, kind, required, [video seconds],
        deadline or None). Videos point at a real file copied into the media directory."""
        now = self.svc.now()
        courses = courses or [
            ("公共课一", CourseKind.PUBLIC, True, [60, 60], None),
            ("公共课二", CourseKind.PUBLIC, False, [120], None),
            ("专业课一", CourseKind.PROFESSIONAL, False, [60], None),
        ]
        media = self.svc.config.data_dir / "media" / "test"
        media.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE_VIDEO, media / "sample.mp4")
        batch = await self.factory.batch(
            name,
            required_minutes=fields.pop("required_minutes", 4),
            required_public_minutes=fields.pop("required_public_minutes", 2),
            min_study_days=fields.pop("min_study_days", 10),
            study_deadline=fields.pop("study_deadline", now + dt.timedelta(days=90)),
            exam_opens_in=1,
            exam_days=119,
            **fields,
        )
        made, videos = await self.factory.courses(batch, courses, file="test/sample.mp4")
        return Catalogue(batch=batch, courses=made, videos=videos)

    async def learner(self, batch_id: int, **fields):
        user = await self.factory.user(**fields)
        await self.factory.enrol(user.id, batch_id)
        return user

    async def material(self, batch_id: int, *, kind=CourseKind.PUBLIC, course_id=None) -> Material:
        path = self.svc.config.data_dir / "media" / "test" / f"m-{kind}-{course_id}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        import io
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("提纲.txt", "安全生产\n")
        path.write_bytes(buffer.getvalue())
        async with self.svc.db.write() as db:
            item = Material(
                batch_id=batch_id,
                course_id=course_id,
                kind=kind,
                title="公共课教材" if kind == CourseKind.PUBLIC else "专业课教材",
                file=f"test/{path.name}",
                size_bytes=path.stat().st_size,
                created_at=self.svc.now(),
            )
            db.add(item)
        return item


class Player:
    """A page playing one video: starts a session and sends beats as the browser would."""

    def __init__(self, svc, clock, user, video_id, rules=None) -> None:
        self.svc, self.clock, self.user, self.video_id = svc, clock, user, video_id
        self.rules = rules or StudyRules()
        self.token = None
        self.seq = 0
        self.position = 0.0

    async def start(self) -> playback.Started:
        async with self.svc.db.read() as db:
            started = await playback.start(
                session=db,
                redis=self.svc.redis,
                rules=self.rules,
                user_id=self.user.id,
                video_id=self.video_id,
                now=self.svc.now(),
            )
        self.token, self.seq, self.position = started.token, 0, started.resume_s
        return started

    async def beat(self, position=None, *, reason="tick", seq=None, **extra) -> dict:
        self.seq = self.seq + 1 if seq is None else seq
        if position is not None:
            self.position = position
        body = {"token": self.token, "seq": self.seq, "position": self.position, "reason": reason}
        body.update(extra)
        result = await study.beat(
            redis=self.svc.redis,
            rules=self.rules,
            user_id=self.user.id,
            body=body,
            now=self.svc.now(),
        )
        if result.completed_video is not None:
            async with self.svc.db.read() as db:
                await study.check_course(
                    result, session=db, redis=self.svc.redis, user_id=self.user.id
                )
        if reason == "seek":
            self.position = extra["to"]
        return result.reply()

    async def play(self, seconds: float) -> dict:
        """Play at 1x for `seconds` of server time, then beat."""
        self.clock.advance(seconds=seconds)
        return await self.beat(self.position + seconds)

    async def answer(self, nonce, code, *, token=None) -> dict:
        """Answer an attention check as the page would; a refusal comes back as its reply."""
        body = {"token": token or self.token, "nonce": nonce, "code": code}
        try:
            result = await answers.answer(
                redis=self.svc.redis,
                rules=self.rules,
                user_id=self.user.id,
                body=body,
                now=self.svc.now(),
            )
        except AppError as error:
            return {"ok": False, "code": error.code, "message": error.message}
        return result.reply()


async def challenge_code(svc, nonce: str) -> str:
    """Read an open challenge's code from Redis, as a person reads it off the image."""
    value = await svc.redis.get(f"study:challenge:{nonce}")
    return value.split(":")[1]  # owner:code:seed


@pytest.fixture
async def config(config):
    """No background flusher: tests write credits to the database with `flush` when they
    choose, so what a test reads never depends on a race with a background task."""
    config.study_flusher = False
    return config


@pytest.fixture
def learning(svc, factory):
    return Learning(svc, factory)


@pytest.fixture
async def long_video(svc, learning):
    """Makes a batch with one four-hour video (attention checks every 10–20 minutes unless
    the batch fields say otherwise) and a learner in it: (learner, video id)."""

    async def make(**batch_fields):
        cat = await learning.batch(
            courses=[("长课程", CourseKind.PUBLIC, True, [4 * 3600], None)], **batch_fields
        )
        user = await learning.learner(cat.batch.id)
        return user, cat.videos[cat.courses[0].id][0].id

    return make


async def flush(svc) -> int:
    """Write every acknowledged credit still in Redis to the database (taking over what
    the app's background flusher holds, so the database is current when this returns)."""
    from app.learning.writer import flush_credits

    total = 0
    while n := await flush_credits(
        redis=svc.redis, db=svc.db, consumer="tests", claim_idle_ms=0, block_ms=None
    ):
        total += n
    return total
