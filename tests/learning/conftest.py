"""Learning fixtures: a batch with courses and videos, and learners enrolled in it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import pytest

from app.learning.demo import DEMO_MEDIA
from app.learning.models import Batch, Course, CourseKind, Material, Video
from app.learning.study import StudyRules

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


@pytest.fixture
async def config(config):
    """No background flusher: tests write credits to the database with `flush` when they
    choose, so what a test reads never depends on a race with a background task."""
    config.study_flusher = False
    return config


@pytest.fixture
def learning(svc, factory):
    return Learning(svc, factory)


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
