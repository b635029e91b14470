"""Credit, progress, totals and study days: record_watched and batch_progress."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.errors import AppError
from app.learning import credit, service
from app.learning.models import CourseKind, StudyDay, VideoProgress


async def watch(svc, user_id, video_id, start_s, end_s, at=None):
    async with svc.db.write() as db:
        return await credit.record_watched(
            session=db,
            user_id=user_id,
            video_id=video_id,
            start_s=start_s,
            end_s=end_s,
            at=at or svc.now(),
        )


async def progress_of(svc, user_id, batch_id):
    async with svc.db.read() as db:
        return await service.batch_progress(session=db, user_id=user_id, batch_id=batch_id)


async def test_record_watched__new_segment_is_credited_to_the_study_day(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]

    watched = await watch(svc, user.id, video.id, 0, 15)

    assert (watched.new_ms, watched.watched_ms, watched.position_ms) == (15000, 15000, 15000)
    assert not watched.complete
    async with svc.db.read() as db:
        day = await db.scalar(select(StudyDay).where(StudyDay.user_id == user.id))
    assert (day.day, day.credited_ms) == (dt.date(2026, 3, 2), 15000)


async def test_record_watched__rewatch_is_not_counted_twice(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await watch(svc, user.id, video.id, 0, 30)

    again = await watch(svc, user.id, video.id, 10, 20)
    partly = await watch(svc, user.id, video.id, 20, 45)

    assert again.new_ms == 0 and again.watched_ms == 30000
    assert partly.new_ms == 15000 and partly.watched_ms == 45000
    async with svc.db.read() as db:
        days = list(await db.scalars(select(StudyDay).where(StudyDay.user_id == user.id)))
    assert [d.credited_ms for d in days] == [45000]


async def test_record_watched__segments_out_of_order_merge(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await watch(svc, user.id, video.id, 40, 60)
    await watch(svc, user.id, video.id, 0, 15)

    last = await watch(svc, user.id, video.id, 10, 45)

    assert last.new_ms == 25000 and last.complete
    async with svc.db.read() as db:
        row = await db.scalar(select(VideoProgress).where(VideoProgress.user_id == user.id))
    assert row.segments == "[[0,60000]]"


async def test_course__complete_only_when_every_video_is(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    first, second = cat.videos[cat.courses[0].id]

    one = await watch(svc, user.id, first.id, 0, 60)
    mid = await progress_of(svc, user.id, cat.batch.id)
    two = await watch(svc, user.id, second.id, 0, 60)
    done = await progress_of(svc, user.id, cat.batch.id)

    assert one.complete and not one.course_complete
    assert mid.credited_minutes == 0 and mid.incomplete_required == ["公共课一"]
    assert two.complete and two.course_complete
    assert (done.credited_minutes, done.public_minutes) == (2, 2)
    assert done.incomplete_required == []


async def test_batch_progress__public_minutes_counted_separately(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    professional = cat.courses[2]
    public_two = cat.courses[1]

    await watch(svc, user.id, cat.videos[professional.id][0].id, 0, 60)
    await watch(svc, user.id, cat.videos[public_two.id][0].id, 0, 100)  # 100 of 120 s
    result = await progress_of(svc, user.id, cat.batch.id)

    assert (result.credited_minutes, result.public_minutes) == (1, 0)
    assert result.study_days == 1
    async with svc.db.read() as db:
        rows = await service.course_rows(session=db, user_id=user.id, batch_id=cat.batch.id)
    statuses = {r.course.name: (r.status, r.percent) for r in rows}
    assert statuses == {
        "公共课一": ("未开始", 0),
        "公共课二": ("学习中", 83),
        "专业课一": ("已完成", 100),
    }


async def test_video__complete_despite_jitter_gaps_below_the_slack(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[1].id][0]  # 120 s

    for start in range(0, 120, 15):
        result = await watch(svc, user.id, video.id, start + 0.2, start + 15)

    assert result.watched_ms == 120000 - 8 * 200
    assert result.complete


async def test_study_days__midnight_in_shanghai_splits_days(svc, learning, clock):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[1].id][0]
    # 15:59:50 UTC is 23:59:50 in Shanghai; 16:00:05 UTC is already the next day there.
    before = dt.datetime(2026, 3, 2, 15, 59, 50, tzinfo=dt.UTC)
    after = dt.datetime(2026, 3, 2, 16, 0, 5, tzinfo=dt.UTC)

    await watch(svc, user.id, video.id, 0, 10, at=before)
    await watch(svc, user.id, video.id, 10, 25, at=after)

    async with svc.db.read() as db:
        days = list(await db.scalars(select(StudyDay).order_by(StudyDay.day)))
    assert [(d.day, d.credited_ms) for d in days] == [
        (dt.date(2026, 3, 2), 10000),
        (dt.date(2026, 3, 3), 15000),
    ]
    assert (await progress_of(svc, user.id, cat.batch.id)).study_days == 2


async def test_study_days__same_utc_date_can_be_two_shanghai_days(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[1].id][0]

    await watch(svc, user.id, video.id, 0, 5, at=dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC))
    await watch(svc, user.id, video.id, 5, 9, at=dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC))
    # Re-watching earns no credit, so it makes no study day.
    await watch(svc, user.id, video.id, 0, 5, at=dt.datetime(2026, 3, 5, 1, 0, tzinfo=dt.UTC))

    assert (await progress_of(svc, user.id, cat.batch.id)).study_days == 2


async def test_withdrawn_course__earns_nothing_and_leaves_the_table(svc, learning, clock):
    deadline = svc.now() + dt.timedelta(days=1)
    cat = await learning.batch(
        courses=[
            ("将下架课程", CourseKind.PROFESSIONAL, False, [60], deadline),
            ("常规课程", CourseKind.PUBLIC, False, [60], None),
        ]
    )
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await watch(svc, user.id, video.id, 0, 30)
    clock.advance(days=1)

    late = await watch(svc, user.id, video.id, 30, 60)
    async with svc.db.read() as db:
        shown = await service.catalogue(
            session=db, user_id=user.id, batch_id=cat.batch.id, now=svc.now()
        )
        with pytest.raises(AppError) as refused:
            await service.playable_course(
                session=db, user_id=user.id, video_id=video.id, now=svc.now()
            )

    assert late.closed and late.new_ms == 0 and late.watched_ms == 30000
    assert [r.course.name for r in shown] == ["常规课程"]
    assert refused.value.code == "course_withdrawn"
    assert (await progress_of(svc, user.id, cat.batch.id)).credited_minutes == 0


async def test_withdrawn_course__finished_before_the_deadline_keeps_its_minutes(
    svc, learning, clock
):
    deadline = svc.now() + dt.timedelta(days=1)
    cat = await learning.batch(courses=[("限期课程", CourseKind.PUBLIC, False, [60], deadline)])
    user = await learning.learner(cat.batch.id)
    await watch(svc, user.id, cat.videos[cat.courses[0].id][0].id, 0, 60)
    clock.advance(days=2)

    async with svc.db.read() as db:
        shown = await service.catalogue(
            session=db, user_id=user.id, batch_id=cat.batch.id, now=svc.now()
        )
    result = await progress_of(svc, user.id, cat.batch.id)

    assert [(r.course.name, r.withdrawn, r.status) for r in shown] == [("限期课程", True, "已完成")]
    assert (result.credited_minutes, result.public_minutes) == (1, 1)


async def test_record_watched__nothing_after_the_batch_study_deadline(svc, learning, clock):
    cat = await learning.batch(study_deadline=svc.now() + dt.timedelta(hours=1))
    user = await learning.learner(cat.batch.id)
    clock.advance(hours=1)

    late = await watch(svc, user.id, cat.videos[cat.courses[0].id][0].id, 0, 60)

    assert late.closed and late.new_ms == 0


async def test_record_watched__clamps_to_the_video(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[2].id][0]  # 60 s

    result = await watch(svc, user.id, video.id, -5, 90)

    assert result.new_ms == 60000 and result.complete


async def test_record_watched__unknown_video_is_refused(svc, learning):
    user = await learning.factory.user()
    with pytest.raises(AppError) as refused:
        await watch(svc, user.id, 999999, 0, 10)
    assert refused.value.code == "not_found"


async def test_batch_progress__other_learners_do_not_count(svc, learning):
    cat = await learning.batch()
    me = await learning.learner(cat.batch.id)
    other = await learning.learner(cat.batch.id)
    await watch(svc, other.id, cat.videos[cat.courses[2].id][0].id, 0, 60)

    mine = await progress_of(svc, me.id, cat.batch.id)

    assert (mine.credited_minutes, mine.study_days) == (0, 0)


async def test_several_days_of_study_make_a_learner_eligible_by_the_numbers(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    videos = [v for vs in cat.videos.values() for v in vs]
    start = svc.now()
    for day in range(10):
        at = start + dt.timedelta(days=day)
        for video in videos:
            seconds = video.duration_ms / 1000
            await watch(svc, user.id, video.id, seconds * day / 10, seconds * (day + 1) / 10, at)

    result = await progress_of(svc, user.id, cat.batch.id)

    assert (result.credited_minutes, result.public_minutes, result.study_days) == (5, 4, 10)
    assert result.incomplete_required == []
