"""What one attention check (防挂机) costs: the image, the Redis keys, the answer.

    .venv/bin/python bench/attention.py --checks 200

Starts its own redis-server and SQLite database (bench/common.py), makes --checks
learners in a batch whose check falls due after a minute, and drives each through the
real service functions on a clock of its own: start, beats until the check comes, the
image drawn as the image route draws it, one wrong answer (a new code), the right one.
It counts the Redis keys before, while the check is open and after it is answered, and
times the drawing of the image (Pillow, on the event loop's thread) and the answers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import create_learners, machine_load, percentile, start_stack  # noqa: E402


async def setup(database_url: str, count: int) -> tuple[int, list[int]]:
    """A batch with one long video, checks every minute, and `count` enrolled learners."""
    from sqlalchemy import select

    from app.accounts.models import User
    from app.clock import utcnow
    from app.db import Database
    from app.learning.models import Batch, Course, Video

    now = utcnow()
    db = Database(database_url)
    async with db.write() as session:
        batch = Batch(
            name=f"防挂机压测 {now:%H%M%S%f}", required_minutes=640, required_public_minutes=320,
            min_study_days=10, study_deadline=now + dt.timedelta(days=30),
            exam_opens_at=now + dt.timedelta(days=31), exam_closes_at=now + dt.timedelta(days=60),
            created_at=now, attention_checks=True, attention_min_minutes=1,
            attention_max_minutes=1,
        )  # fmt: skip
        session.add(batch)
        await session.flush()
        course = Course(
            batch_id=batch.id, name="压测课程", lecturer="压测", kind="public", required=True,
            position=1, created_at=now,
        )  # fmt: skip
        session.add(course)
        await session.flush()
        video = Video(
            course_id=course.id, title="压测视频", position=1, duration_ms=3_600_000,
            file="bench/none.mp4", mimetype="video/mp4", created_at=now,
        )  # fmt: skip
        session.add(video)
        await session.flush()
        await create_learners(session, count=count, batch_id=batch.id, now=now)
        users = list(await session.scalars(select(User.id).order_by(User.id)))
        video_id = video.id
    await db.dispose()
    return video_id, users


async def run(database_url: str, redis_url: str, count: int) -> dict[str, float]:
    from app.db import Database
    from app.learning import answers, attention, playback, study
    from app.lib import redis_pool

    redis = redis_pool.connect(redis_url, decode_responses=True)
    db = Database(database_url)
    rules = study.StudyRules()
    video_id, users = await setup(database_url, count)
    now = dt.datetime.now(dt.UTC)
    draw_ms, route_ms, answer_ms, sizes = [], [], [], []
    open_keys, after_keys, open_bytes = [], [], []

    async def keys() -> set[str]:
        return {k async for k in redis.scan_iter("study:*", count=1000)}

    for user_id in users:
        async with db.read() as session:
            started = await playback.start(
                session=session, redis=redis, rules=rules, user_id=user_id, video_id=video_id,
                now=now,
            )  # fmt: skip
        at = now
        reply: dict = {}
        for seq in range(1, 6):
            at += dt.timedelta(seconds=15)
            if seq == 4:
                before = await keys()
            body = {"token": started.token, "seq": seq, "position": 15.0 * seq}
            reply = (
                await study.beat(redis=redis, rules=rules, user_id=user_id, body=body, now=at)
            ).reply()
            if "challenge" in reply:
                break
        nonce = reply["challenge"]["nonce"]
        opened = await keys()
        open_keys.append(len(opened - before))
        open_bytes.append(await redis.memory_usage(f"study:challenge:{nonce}") or 0)
        t = time.perf_counter()
        png = await answers.challenge_image(redis=redis, user_id=user_id, nonce=nonce)
        route_ms.append((time.perf_counter() - t) * 1000)
        sizes.append(len(png))
        code = (await redis.get(f"study:challenge:{nonce}")).split(":")
        t = time.perf_counter()
        attention.image(code[1], int(code[2]))
        draw_ms.append((time.perf_counter() - t) * 1000)
        body = {"token": started.token, "nonce": nonce, "code": "0000"}
        t = time.perf_counter()
        wrong = await answers.answer(redis=redis, rules=rules, user_id=user_id, body=body, now=at)
        answer_ms.append((time.perf_counter() - t) * 1000)
        fresh = wrong.challenge["nonce"]
        right = (await redis.get(f"study:challenge:{fresh}")).split(":")[1]
        body = {"token": started.token, "nonce": fresh, "code": right}
        await answers.answer(redis=redis, rules=rules, user_id=user_id, body=body, now=at)
        after_keys.append(len(await keys() - before))
    await db.dispose()
    await redis.aclose()
    return {
        "draw_p50_ms": statistics.median(draw_ms),
        "draw_p99_ms": percentile(draw_ms, 99),
        "image_p50_ms": statistics.median(route_ms),
        "answer_p50_ms": statistics.median(answer_ms),
        "png_bytes": statistics.median(sizes),
        "keys_open": max(open_keys),
        "keys_after": max(after_keys),
        "key_bytes": statistics.median(open_bytes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=200)
    args = parser.parse_args()
    stack = start_stack()
    try:
        print(f"machine load before: {machine_load()}", flush=True)
        result = asyncio.run(run(stack.database_url, stack.redis_url, args.checks))
        print(f"machine load after: {machine_load()}")
    finally:
        stack.stop()
    print(
        f"RESULT checks={args.checks} draw_p50_ms={result['draw_p50_ms']:.2f} "
        f"draw_p99_ms={result['draw_p99_ms']:.2f} image_p50_ms={result['image_p50_ms']:.2f} "
        f"answer_p50_ms={result['answer_p50_ms']:.2f} png_bytes={result['png_bytes']:.0f} "
        f"keys_open={result['keys_open']} keys_after={result['keys_after']} "
        f"challenge_key_bytes={result['key_bytes']:.0f}"
    )


if __name__ == "__main__":
    main()
