"""Dashboard marks: gathered in the process, sent to Redis together a moment later."""

from __future__ import annotations

import asyncio

from app.invigilation import live
from app.lib import redis_pool


async def _sadds(redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_sadd", {}).get("calls", 0))


async def test_marks__are_sent_together_one_command_per_session(svc):
    marks = live.Marks(svc.redis)
    before = await _sadds(svc.redis)
    for user_id in (1, 2, 3, 2):
        marks.add(7, [user_id])
    marks.add(8, [4])
    marks.add(None, [5])  # outside an exam session: nothing to mark

    for _ in range(100):
        if await svc.redis.exists(live.dirty_key(8)):
            break
        await asyncio.sleep(live.MARK_SECONDS / 2)

    assert await svc.redis.smembers(live.dirty_key(7)) == {"1", "2", "3"}
    assert await svc.redis.smembers(live.dirty_key(8)) == {"4"}
    assert await _sadds(svc.redis) - before == 2


async def test_marks__wait_while_redis_is_away_and_are_sent_when_it_answers(svc, tmp_path):
    marks = live.Marks(redis_pool.connect(f"unix://{tmp_path / 'nobody.sock'}"))
    marks.add(7, [1])
    marks.add(7, [2])

    assert not await marks.flush()
    away = marks.redis
    marks.redis = svc.redis
    marks.add(7, [3])
    assert await marks.flush()
    await away.aclose()

    assert await svc.redis.smembers(live.dirty_key(7)) == {"1", "2", "3"}


async def test_marks__closing_sends_what_is_left(svc):
    marks = live.Marks(svc.redis)
    marks.add(9, [1])
    await marks.close()

    assert await svc.redis.smembers(live.dirty_key(9)) == {"1"}
