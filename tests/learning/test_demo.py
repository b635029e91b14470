"""The demo batch gets real courses, playable videos and materials, consistently."""

from __future__ import annotations

from sqlalchemy import func, select

from app import demo
from app.learning import service
from app.learning.models import Batch, Course, CourseKind, Material, Video


async def test_demo__batch_has_public_and_professional_courses_with_real_videos(svc):
    await demo.seed(svc)
    await demo.seed(svc)  # idempotent

    async with svc.db.read() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == demo.BATCH_NAME))
        courses = list(await db.scalars(select(Course).where(Course.batch_id == batch.id)))
        videos = list(await db.scalars(select(Video)))
        materials = await db.scalar(select(func.count(Material.id)))
        rows = await service.course_rows(session=db, user_id=0, batch_id=batch.id)

    kinds = [c.kind for c in courses]
    assert kinds.count(CourseKind.PUBLIC) >= 3 and kinds.count(CourseKind.PROFESSIONAL) >= 3
    assert len(courses) == 6 and materials == 2
    for video in videos:
        path = service.media_path(svc.config, video.file)
        assert video.duration_ms == 60000 and path.stat().st_size > 10000
    total = sum(r.minutes for r in rows)
    public = sum(r.minutes for r in rows if r.course.kind == CourseKind.PUBLIC)
    required_public = sum(
        r.minutes for r in rows if r.course.required and r.course.kind == CourseKind.PUBLIC
    )
    assert batch.required_minutes <= total and batch.required_public_minutes <= public
    assert required_public >= batch.required_public_minutes
