"""Reports at scale: a batch of N learners with M courses, the report page's first screen
and the Excel exports of its progress report and 合格人员名册.

    .venv/bin/python bench/reports.py --learners 10000 --courses 20

A private stack (SQLite, redis-server, one uvicorn server, one ``python -m app worker``)
in a temp dir. The data is written straight into the tables: learners in a dozen work
units, two videos per course, each learner's completed and partial videos, study days,
closed attempts for those who studied enough and certificates for those who passed.
Then an admin logs in through the real form, opens the report page (first screen: the
counts, the charts and the first page of who is short of what) repeatedly, and queues
both exports through the page as an admin would; the worker writes them.

The last line is

    RESULT learners=N export_s=.. page_p95_ms=.. rss_mb=..

export_s: from queueing the two exports to both files being ready (the worker runs them
one after the other). page_p95_ms: the report page over PAGES requests after one warm-up.
rss_mb: the largest resident memory of the server and the worker, sampled throughout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, update  # noqa: E402

from app.accounts.models import User, UserRole, index_of  # noqa: E402
from app.certificates.models import Certificate, CertificateState  # noqa: E402
from app.config import Config  # noqa: E402
from app.exams.models import Attempt  # noqa: E402
from app.exams.statuses import AttemptStatus, EndedBy  # noqa: E402
from app.learning.models import (  # noqa: E402
    Batch,
    Course,
    CourseKind,
    StudyDay,
    Video,
    VideoProgress,
)
from app.services import build_services  # noqa: E402
from bench.common import (  # noqa: E402
    BENCH_PASSWORD,
    bench_id_number,
    create_learners,
    login,
    machine_load,
    percentile,
    rss_mb,
    start_stack,
)

UNITS = [f"某市第{i}建设工程有限公司" for i in range(1, 13)]
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
PAGES = 40


async def build(config: Config, *, learners: int, courses: int, seed: int = 7) -> tuple[int, str]:
    """Write the batch, its courses and videos, the learners and their progress."""
    rng = random.Random(seed)
    svc = build_services(config)
    try:
        async with svc.db.write() as db:
            batch = Batch(
                name="注册安全工程师继续教育 2026年第一期",
                required_minutes=640,
                required_public_minutes=320,
                min_study_days=10,
                study_deadline=NOW + dt.timedelta(days=30),
                exam_opens_at=NOW - dt.timedelta(days=30),
                exam_closes_at=NOW + dt.timedelta(days=60),
                created_at=NOW - dt.timedelta(days=90),
            )
            db.add(batch)
            await db.flush()
            videos: list[tuple[int, int]] = []  # (video id, duration)
            for position in range(courses):
                course = Course(
                    batch_id=batch.id,
                    name=f"继续教育课程{position + 1:02d}",
                    lecturer="讲师",
                    kind=CourseKind.PUBLIC if position % 2 == 0 else CourseKind.PROFESSIONAL,
                    required=position < 4,
                    position=position + 1,
                    created_at=NOW,
                )
                db.add(course)
                await db.flush()
                for order in range(2):
                    duration = rng.randint(25, 45) * 60_000
                    video = Video(
                        course_id=course.id,
                        title=f"第{order + 1}讲",
                        position=order + 1,
                        duration_ms=duration,
                        file="bench/none.mp4",
                        mimetype="video/mp4",
                        created_at=NOW,
                    )
                    db.add(video)
                    await db.flush()
                    videos.append((video.id, duration))
            numbers = await create_learners(db, count=learners, batch_id=batch.id, now=NOW)
            admin_number = bench_id_number(learners + 1)
            await db.execute(
                insert(User),
                [
                    dict(
                        id_number=admin_number,
                        id_number_index=index_of(admin_number),
                        name="压测管理员",
                        gender="男",
                        work_unit="",
                        password_hash=(await db.scalar(select(User.password_hash).limit(1))),
                        must_change_password=False,
                        password_issued_at=NOW,
                        tour_done=True,
                        is_active=True,
                        created_at=NOW,
                    )
                ],
            )
            admin_id = await db.scalar(select(User.id).where(User.id_number == admin_number))
            db.add(UserRole(user_id=admin_id, role="admin"))
            ids = list(await db.scalars(select(User.id).where(User.id_number.in_(numbers))))
            for index, unit in enumerate(UNITS):
                chunk = ids[index :: len(UNITS)]
                for start in range(0, len(chunk), 900):
                    await db.execute(
                        update(User)
                        .where(User.id.in_(chunk[start : start + 900]))
                        .values(work_unit=unit)
                    )
        progress, days, attempts, certificates = [], [], [], []
        for user_id in ids:
            # A spread from "has not started" to "watched everything".
            watched = rng.choice((0, 4, 10, 16, 24, 30, 36, len(videos), len(videos)))
            for video_id, duration in rng.sample(videos, min(watched, len(videos))):
                complete = rng.random() < 0.85
                ms = duration if complete else duration // 2
                progress.append(
                    dict(
                        user_id=user_id,
                        video_id=video_id,
                        segments=json.dumps([[0, ms]]),
                        watched_ms=ms,
                        last_position_ms=ms,
                        completed_at=NOW if complete else None,
                        updated_at=NOW,
                    )
                )
            for day in range(min(14, watched // 2)):
                days.append(
                    dict(
                        user_id=user_id,
                        batch_id=batch.id,
                        day=(NOW - dt.timedelta(days=day + 1)).date(),
                        credited_ms=600_000,
                    )
                )
            if watched >= 30:
                tries = rng.choice((1, 1, 2, 3))
                for number in range(1, tries + 1):
                    score = rng.choice((45.0, 55.5, 62.0, 71.5, 80.0, 88.5, 93.0))
                    passed = score >= 60 and number == tries
                    attempts.append(
                        dict(
                            user_id=user_id,
                            batch_id=batch.id,
                            number=number,
                            seed=number,
                            rules="{}",
                            paper="{}",
                            status=AttemptStatus.CLOSED,
                            started_at=NOW - dt.timedelta(hours=3),
                            deadline=NOW - dt.timedelta(hours=1),
                            ended_at=NOW - dt.timedelta(hours=2),
                            ended_by=EndedBy.SUBMITTED,
                            score=score if passed or score < 60 else 50.0,
                            passed=passed,
                            graded_answers="{}",
                        )
                    )
        async with svc.db.write() as db:
            for rows, table in ((progress, VideoProgress), (days, StudyDay), (attempts, Attempt)):
                for start in range(0, len(rows), 5000):
                    await db.execute(insert(table), rows[start : start + 5000])
            passed = await db.execute(
                select(Attempt.id, Attempt.user_id, Attempt.score).where(Attempt.passed.is_(True))
            )
            for n, (attempt_id, user_id, score) in enumerate(passed):
                certificates.append(
                    dict(
                        number=f"2026{n:08d}",
                        attempt_id=attempt_id,
                        user_id=user_id,
                        batch_id=batch.id,
                        state=CertificateState.ISSUED,
                        tries=1,
                        holder_name="",
                        batch_name=batch.name,
                        minutes=rng.choice((640, 700, 760)),
                        score=score,
                        requested_at=NOW,
                        updated_at=NOW,
                        issued_at=NOW,
                    )
                )
            for start in range(0, len(certificates), 5000):
                await db.execute(insert(Certificate), certificates[start : start + 5000])
        print(
            f"data: {learners} learners, {len(videos)} videos, {len(progress)} progress rows, "
            f"{len(days)} study days, {len(attempts)} attempts, {len(certificates)} certificates",
            flush=True,
        )
        return batch.id, admin_number
    finally:
        await svc.close()


CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


async def measure(stack, batch_id: int, admin_number: str, pids: list[int]) -> dict:
    import aiohttp
    import redis.asyncio as aioredis

    peak = 0.0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_mb(pids))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    redis = aioredis.Redis.from_url(stack.redis_url, decode_responses=True)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(stack.base_url, cookie_jar=jar) as http:
        await login(http, redis, admin_number, BENCH_PASSWORD)
        url = f"/admin/reports?batch={batch_id}"
        async with http.get(url) as response:
            page = await response.text()
            assert response.status == 200, page[:500]
        times = []
        for _ in range(PAGES):
            started = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
                assert response.status == 200
            times.append((time.perf_counter() - started) * 1000)
        csrf = CSRF.search(page).group(1)
        started = time.perf_counter()
        statuses = []
        for kind in ("progress", "roster"):
            form = {"csrf_token": csrf, "kind": kind, "batch_id": str(batch_id)}
            async with http.post("/admin/reports/export", data=form, allow_redirects=False) as r:
                assert r.status == 302, await r.text()
                statuses.append(r.headers["Location"])
        rows = {}
        for status in statuses:
            while True:
                async with http.get(status) as response:
                    text = await response.text()
                if 'data-state="done"' in text:
                    rows[status] = re.search(r"共 (\d+) 行", text).group(1)
                    break
                if 'data-state="failed"' in text:
                    raise RuntimeError("export failed: " + text[-400:])
                await asyncio.sleep(0.05)
        export_s = time.perf_counter() - started
        sizes = []
        for status in statuses:
            async with http.get(status + "/download") as response:
                sizes.append(len(await response.read()))
    await redis.aclose()
    stop.set()
    await sampler
    print(
        f"page: p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms, "
        f"max {max(times):.0f} ms; exports: rows {list(rows.values())}, "
        f"bytes {sizes}, {export_s:.2f} s",
        flush=True,
    )
    return {"export_s": export_s, "page_p95": percentile(times, 95), "rss": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10000)
    parser.add_argument("--courses", type=int, default=20)
    args = parser.parse_args()
    stack = start_stack()
    worker = None
    try:
        config = Config(
            data_dir=stack.workdir, database_url=stack.database_url, redis_url=stack.redis_url
        )
        started = time.perf_counter()
        batch_id, admin_number = asyncio.run(
            build(config, learners=args.learners, courses=args.courses)
        )
        print(f"built in {time.perf_counter() - started:.1f} s; load {machine_load()}", flush=True)
        stack.start_server()
        worker = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            cwd=ROOT,
            env=stack.env(),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
        result = asyncio.run(
            measure(stack, batch_id, admin_number, [*stack.server_pids, worker.pid])
        )
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        stack.stop()
    print(
        f"RESULT learners={args.learners} export_s={result['export_s']:.2f} "
        f"page_p95_ms={result['page_p95']:.0f} rss_mb={result['rss']:.0f}"
    )


if __name__ == "__main__":
    main()
