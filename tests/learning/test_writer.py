"""Write-behind: acknowledged credits go from the Redis stream to the database, once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from app.learning import credit, playback, study
from app.learning.models import StudyDay, VideoProgress
from app.learning.writer import CREDITS_STREAM, GROUP, ensure_group, flush_credits
from tests.learning.conftest import flush

RULES = study.StudyRules()


async def play(svc, clock, user, video_id, beats=2) -> str:
    async with svc.db.read() as db:
        started = await playback.start(
            session=db,
            redis=svc.redis,
            rules=RULES,
            user_id=user.id,
            video_id=video_id,
            now=svc.now(),
        )
    for seq in range(1, beats + 1):
        clock.advance(seconds=15)
        await study.beat(
            redis=svc.redis,
            rules=RULES,
            user_id=user.id,
            body={"token": started.token, "seq": seq, "position": 15.0 * seq},
            now=svc.now(),
        )
    return started.token


async def progress(svc):
    async with svc.db.read() as db:
        rows = list(await db.scalars(select(VideoProgress).order_by(VideoProgress.user_id)))
        days = list(await db.scalars(select(StudyDay).order_by(StudyDay.user_id)))
    return rows, days


async def test_flush__acknowledged_credits_reach_the_database_and_leave_the_stream(
    svc, clock, learning
):
    cat = await learning.batch()
    users = [await learning.learner(cat.batch.id) for _ in range(3)]
    video = cat.videos[cat.courses[0].id][0]
    for user in users:
        await play(svc, clock, user, video.id)

    await flush(svc)
    rows, days = await progress(svc)

    assert [r.segments for r in rows] == ["[[0,30000]]"] * 3
    assert [r.last_position_ms for r in rows] == [30000] * 3
    assert [d.credited_ms for d in days] == [30000] * 3
    assert await svc.redis.xlen(CREDITS_STREAM) == 0
    assert (await svc.redis.xpending(CREDITS_STREAM, GROUP))["pending"] == 0


async def test_flush__entries_a_dead_process_read_are_reclaimed(svc, clock, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await ensure_group(svc.redis)
    await play(svc, clock, user, video.id)
    # A process reads the entries and dies before committing them.
    read = await svc.redis.xreadgroup(GROUP, "dead-process", {CREDITS_STREAM: ">"}, count=100)
    held = sum(len(items) for _, items in read or [])
    young = await flush_credits(
        redis=svc.redis, db=svc.db, consumer="alive", claim_idle_ms=60_000, block_ms=None
    )

    taken = await flush_credits(
        redis=svc.redis, db=svc.db, consumer="alive", claim_idle_ms=0, block_ms=None
    )
    rows, _ = await progress(svc)

    assert held == 2
    assert young == 0  # not idle long enough yet: the owner may still be writing them
    assert taken == 2
    assert rows[0].segments == "[[0,30000]]"


async def test_flush__writing_an_entry_twice_counts_once(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    one = credit.Credit(user_id=user.id, video_id=video.id, start_s=0, end_s=15, at=svc.now())

    for _ in range(2):
        async with svc.db.write() as db:
            await credit.record_watched_many(session=db, credits=[one, one])
    rows, days = await progress(svc)

    assert rows[0].watched_ms == 15000 and [d.credited_ms for d in days] == [15000]


async def test_flush__credit_for_a_deleted_video_is_dropped_alone(svc, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    await ensure_group(svc.redis)
    at = str(int(svc.now().timestamp() * 1000))
    for video_id in (video.id, 987654):
        await svc.redis.xadd(
            CREDITS_STREAM, {"u": user.id, "v": video_id, "s": 0, "e": 10000, "at": at}
        )

    await flush(svc)
    rows, _ = await progress(svc)

    assert [r.video_id for r in rows] == [video.id]
    assert await svc.redis.xlen(CREDITS_STREAM) == 0


async def test_flush__credits_keep_the_study_day_of_the_beat(svc, clock, learning):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[1].id][0]
    clock.set(dt.datetime(2026, 3, 2, 15, 59, 40, tzinfo=dt.UTC))  # 23:59:40 in Shanghai
    await play(svc, clock, user, video.id, beats=2)  # beats at 23:59:55 and 00:00:10

    await flush(svc)
    _, days = await progress(svc)

    assert [(d.day, d.credited_ms) for d in days] == [
        (dt.date(2026, 3, 2), 15000),
        (dt.date(2026, 3, 3), 15000),
    ]
    async with svc.db.read() as db:
        count = await db.scalar(select(func.count(VideoProgress.id)))
    assert count == 1


async def _group_creations(redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xgroup|create", {}).get("calls", 0))


async def test_flush__makes_its_group_once_and_again_after_redis_lost_the_stream(
    svc, clock, learning
):
    cat = await learning.batch()
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    before = await _group_creations(svc.redis)  # the server is shared by the suite's tests
    await play(svc, clock, user, video.id)
    await flush(svc)
    made = await _group_creations(svc.redis) - before
    for _ in range(5):  # idle rounds ask Redis for nothing but new entries
        await flush_credits(redis=svc.redis, db=svc.db, consumer="alive")
    idle = await _group_creations(svc.redis) - before - made
    await svc.redis.delete(CREDITS_STREAM)  # a Redis restarted without its data
    clock.advance(seconds=60)
    await play(svc, clock, user, video.id, beats=3)

    await flush(svc)
    rows, _ = await progress(svc)

    assert made == 1 and idle == 0
    assert await _group_creations(svc.redis) - before == 2
    assert rows[0].segments == "[[0,45000]]"
