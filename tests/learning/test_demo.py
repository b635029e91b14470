"""The demo batch gets real courses, playable videos and materials, consistently."""

from __future__ import annotations

from sqlalchemy import func, select

from app.learning import service, videos
from app.learning.models import Batch, Course, CourseKind, Material, Video
from devtools import demo
from devtools.demo.learning import COURSES, DEMO_MEDIA


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


async def test_demo__studied_learner_may_sit_the_exam_at_once(svc):
    from app.accounts import service as accounts
    from app.exams import eligibility as exams

    await demo.seed(svc)
    await demo.seed(svc)  # idempotent: the watching is not recorded twice
    studied = next(a for a in demo.ACCOUNTS if a.name == "赵学完")
    fresh = demo.ACCOUNTS[0]
    async with svc.db.read() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == demo.BATCH_NAME))
        user = await accounts.get_by_id_number(session=db, id_number=studied.id_number)
        ready = await exams.eligibility(
            session=db, user_id=user.id, batch_id=batch.id, now=svc.now()
        )
        newcomer = await accounts.get_by_id_number(session=db, id_number=fresh.id_number)
        not_ready = await exams.eligibility(
            session=db, user_id=newcomer.id, batch_id=batch.id, now=svc.now()
        )
    assert ready.reasons == [] and ready.can_start
    assert ready.study_days == batch.min_study_days
    assert ready.credited_minutes >= batch.required_minutes
    assert not_ready.reasons and not_ready.study_days == 0


async def test_demo__studied_learner_has_an_id_photo_for_the_certificate(svc):
    from PIL import Image

    from app.accounts import service as accounts
    from app.profile import service as profile

    await demo.seed(svc)
    studied = next(a for a in demo.ACCOUNTS if a.studied)
    async with svc.db.read() as db:
        user = await accounts.get_by_id_number(session=db, id_number=studied.id_number)
    first = user.photo_file
    await demo.seed(svc)  # idempotent: the photo is uploaded once
    async with svc.db.read() as db:
        user = await accounts.get_by_id_number(session=db, id_number=studied.id_number)
        newcomer = await accounts.get_by_id_number(session=db, id_number=demo.ACCOUNTS[0].id_number)
    assert user.photo_file == first and newcomer.photo_file is None
    data = profile.photo_path(svc.config, user).read_bytes()
    image = profile.check_photo(data, svc.config)  # what an upload must pass
    assert image.format == "JPEG" and image.size == (295, 412)
    red, green, blue = Image.open(profile.photo_path(svc.config, user)).getpixel((5, 5))
    assert blue > 150 and blue > red + 60  # an ID photo's blue background


async def test_demo_videos__ffprobe_reads_the_durations_the_demo_states():
    for course in COURSES:
        for video in course.videos:
            info = await videos.probe(DEMO_MEDIA / video.file)
            assert info.duration_ms // 1000 == video.seconds, video.file
