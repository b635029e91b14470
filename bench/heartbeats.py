"""Heartbeat load: N simulated watchers play a video and beat over Socket.IO /study.

    .venv/bin/python bench/heartbeats.py --watchers 1000 --interval 15 --duration 120

Unless --url is given it starts its own stack in a temp dir (redis-server, SQLite, two
uvicorn worker processes, as on any multi-core host). It creates N enrolled learners
directly in the database (one cheap argon2 hash), logs each one in through the real login
form, and connects N python-socketio clients (spread over --procs load-generator
processes). Each watcher starts the video at an offset spread evenly over --ramp seconds
(default: one interval, or N/25 s if longer: 25 video starts a second is already far more
than thousands of real learners cause; a start reads the database, a beat does not), beats
every --interval seconds for --duration seconds and ends with a pause beat. Latency is
measured from emit to ack.

``credited_error_s`` sums, over watchers, |real playing time - study time the server
credited (read from the database)|. The server credits at most the server time between
two accepted beats, so a beat that reaches the server faster than the previous one loses
that difference: the stated tolerance is the sum of those decreases, bounded per beat by
the latency jitter (printed beside the result).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Stack,
    cpu_seconds,
    create_learners,
    login_all,
    machine_load,
    percentile,
    rss_mb,
    start_stack,
)


async def setup_data(
    database_url: str, watchers: int, duration: float, attention: bool = True
) -> tuple[int, list[str]]:
    """A batch with one course and one long video, and the enrolled learners."""
    from app.clock import utcnow
    from app.db import Database
    from app.learning.models import Batch, Course, Video

    now = utcnow()
    db = Database(database_url)
    async with db.write() as session:
        batch = Batch(
            name=f"压测批次 {now:%H%M%S%f}",
            required_minutes=640,
            required_public_minutes=320,
            min_study_days=10,
            study_deadline=now + dt.timedelta(days=30),
            exam_opens_at=now + dt.timedelta(days=31),
            exam_closes_at=now + dt.timedelta(days=60),
            created_at=now,
            attention_checks=attention,
        )
        session.add(batch)
        await session.flush()
        course = Course(
            batch_id=batch.id, name="压测课程", lecturer="压测", kind="public",
            required=True, position=1, created_at=now,
        )  # fmt: skip
        session.add(course)
        await session.flush()
        # The beats never touch the file; a long duration keeps every watcher playing.
        video = Video(
            course_id=course.id, title="压测视频", position=1,
            duration_ms=int(max(3600, duration * 2) * 1000), file="bench/none.mp4",
            mimetype="video/mp4", created_at=now,
        )  # fmt: skip
        session.add(video)
        await session.flush()
        numbers = await create_learners(session, count=watchers, batch_id=batch.id, now=now)
        video_id = video.id
    await db.dispose()
    return video_id, numbers


async def credited_by_server(database_url: str, video_id: int, numbers: list[str]) -> list[float]:
    """Seconds of the video the server credited to each learner, from the database."""
    from sqlalchemy import select

    from app.accounts.models import User
    from app.db import Database
    from app.learning.models import VideoProgress

    db = Database(database_url)
    async with db.read() as session:
        rows = await session.execute(
            select(User.id_number, VideoProgress.watched_ms)
            .join(VideoProgress, VideoProgress.user_id == User.id)
            .where(VideoProgress.video_id == video_id)
        )
        by_number = dict(rows.all())
    await db.dispose()
    return [by_number.get(n, 0) / 1000 for n in numbers]


def generator(index, first, cookies, total, options, barrier, results) -> None:
    """One load-generator process: connects its share of watchers, then plays them."""
    import uvloop

    uvloop.run(_generate(index, first, cookies, total, options, barrier, results))


async def _generate(index, first, cookies, total, options, barrier, results) -> None:
    import socketio

    url, video_id, interval, duration, ramp = options
    gate = asyncio.Semaphore(64)
    loop = asyncio.get_running_loop()

    async def connect(cookie: str):
        async with gate:
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(
                url,
                headers={"Cookie": f"safece_session={cookie}"},
                namespaces=["/study"],
                transports=["websocket"],
                wait_timeout=60,
            )
            return client

    clients = await asyncio.gather(*(connect(c) for c in cookies))
    await asyncio.to_thread(barrier.wait)
    begin = loop.time()
    latencies: list[float] = []
    starts: list[float] = []
    real: list[float] = [0.0] * len(clients)
    counts = {"beats": 0, "ok": 0, "credited": 0.0}
    errors: dict[str, int] = {}

    async def call(client, event, body):
        sent = loop.time()
        try:
            reply = await client.call(event, body, namespace="/study", timeout=30)
        except Exception as error:  # a timeout or a dropped socket is a failed beat
            reply = {"ok": False, "code": type(error).__name__}
        return reply, (loop.time() - sent) * 1000

    async def watch(i: int, client) -> None:
        await asyncio.sleep(max(0.0, begin + ramp * (first + i) / total - loop.time()))
        started, ms = await call(client, "start", {"video_id": video_id})
        starts.append(ms)
        if not started.get("ok"):
            errors[started.get("code", "?")] = errors.get(started.get("code", "?"), 0) + 1
            return
        token, seq = started["token"], 0
        t0 = loop.time()
        end = t0 + duration
        next_at = t0 + interval
        while True:
            last = next_at > end
            await asyncio.sleep(max(0.0, min(next_at, end) - loop.time()))
            seq += 1
            position = loop.time() - t0
            body = {"token": token, "seq": seq, "position": position}
            body["reason"] = "pause" if last else "tick"
            # Like the page: the next beat is one interval after this one was sent.
            next_at = loop.time() + interval
            reply, ms = await call(client, "beat", body)
            counts["beats"] += 1
            latencies.append(ms)
            if reply.get("ok"):
                counts["ok"] += 1
                counts["credited"] += reply.get("credited_s", 0)
            else:
                errors[reply.get("code", "?")] = errors.get(reply.get("code", "?"), 0) + 1
            if last:
                real[i] = position
                break
        await call(client, "stop", {"token": token})

    await asyncio.gather(*(watch(i, c) for i, c in enumerate(clients)))
    for client in clients:
        with contextlib.suppress(Exception):
            await client.disconnect()
    results.put(
        {
            "index": index,
            "latencies": latencies,
            "starts": starts,
            "real": real,
            "errors": errors,
            **counts,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--url", help="an already running server (then also the next two)")
    parser.add_argument("--database-url", help="its database, to create the learners")
    parser.add_argument("--redis-url", help="its Redis, to read login captchas")
    parser.add_argument("--procs", type=int, default=0, help="load-generator processes")
    parser.add_argument("--ramp", type=float, default=0, help="seconds over which to start")
    parser.add_argument(
        "--server-workers", type=int, default=2, help="uvicorn processes (default: one per core)"
    )
    parser.add_argument(
        "--attention",
        choices=("on", "off"),
        default="on",
        help="the batch's attention checks (防挂机), to measure what they cost a beat",
    )
    parser.add_argument("--no-flusher", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    procs = args.procs or max(1, min(4, (args.watchers + 1999) // 2000))
    ramp = args.ramp or max(args.interval, args.watchers / 25)

    stack: Stack | None = None
    if args.url:
        if not (args.database_url and args.redis_url):
            parser.error("--url needs --database-url and --redis-url to prepare learners")
        base_url, database_url, redis_url = args.url, args.database_url, args.redis_url
    else:
        stack = start_stack()
        database_url, redis_url = stack.database_url, stack.redis_url
    try:
        print(f"machine load before: {machine_load()}", flush=True)
        video_id, numbers = asyncio.run(
            setup_data(database_url, args.watchers, args.duration, args.attention == "on")
        )
        if stack is not None:
            stack.start_server(
                workers=args.server_workers,
                SAFECE_STUDY_BEAT_SECONDS=str(args.interval),
                SAFECE_STUDY_FLUSHER="0" if args.no_flusher else "1",
            )
            base_url = stack.base_url
        t = time.monotonic()
        cookies = asyncio.run(login_all(base_url, redis_url, numbers))
        print(f"logged in {len(cookies)} learners in {time.monotonic() - t:.1f} s", flush=True)

        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(procs + 1)
        results = ctx.Queue()
        share = (len(cookies) + procs - 1) // procs
        workers = []
        for p in range(procs):
            part = cookies[p * share : (p + 1) * share]
            options = (base_url, video_id, args.interval, args.duration, ramp)
            proc = ctx.Process(
                target=generator,
                args=(p, p * share, part, len(cookies), options, barrier, results),
            )
            proc.start()
            workers.append(proc)
        t = time.monotonic()
        barrier.wait(timeout=600)
        print(f"connected {len(cookies)} sockets in {time.monotonic() - t:.1f} s", flush=True)
        started_at = time.monotonic()
        samples: list[tuple[float, float, float]] = []
        peak_rss = 0.0
        collected = []
        load_during = []
        while len(collected) < procs:
            if stack is not None:
                peak_rss = max(peak_rss, rss_mb(stack.server_pids))
            load_during.append(machine_load())
            with contextlib.suppress(Exception):
                collected.append(results.get(timeout=2))
            if stack is not None and len(collected) < procs:
                samples.append(
                    (
                        time.monotonic() - started_at,
                        cpu_seconds(stack.server_pids),
                        cpu_seconds([w.pid for w in workers]),
                    )
                )
        for proc in workers:
            proc.join()
    finally:
        pass
    collected.sort(key=lambda r: r["index"])
    latencies = [ms for r in collected for ms in r["latencies"]]
    real = [s for r in collected for s in r["real"]]
    errors: dict[str, int] = {}
    for r in collected:
        for code, n in r["errors"].items():
            errors[code] = errors.get(code, 0) + n
    credited = asyncio.run(credited_by_server(database_url, video_id, numbers))
    error_s = sum(abs(a - b) for a, b in zip(real, credited, strict=True))
    beats = sum(r["beats"] for r in collected)
    ok = sum(r["ok"] for r in collected)
    starts = [ms for r in collected for ms in r["starts"]]
    if stack is not None:
        stack.stop()
    print(
        f"played {sum(real):.1f} s in all, server credited {sum(credited):.1f} s; "
        f"start p99 {percentile(starts, 99):.1f} ms; errors {errors or 'none'}"
    )
    print(
        f"tolerance: per beat at most the drop in latency from the previous beat "
        f"(p99 latency {percentile(latencies, 99):.1f} ms), i.e. "
        f"{error_s / max(1, beats) * 1000:.2f} ms per beat measured"
    )
    print(f"machine load during run (1/5/15 min): {load_during[len(load_during) // 2]}")
    # Steady state: every watcher started and none stopping yet.
    window = [x for x in samples if ramp + 2 <= x[0] <= ramp + args.duration - args.interval]
    if stack is not None and len(window) >= 2:
        (t0, s0, g0), (t1, s1, g1) = window[0], window[-1]
        rate = args.watchers / args.interval
        print(
            f"steady state ({t1 - t0:.0f} s): server {(s1 - s0) / (t1 - t0) * 100:.0f}% of a core"
            f" = {(s1 - s0) / (t1 - t0) / rate * 1000:.2f} ms per beat; load generators"
            f" {(g1 - g0) / (t1 - t0) * 100:.0f}% of a core"
        )
    print(
        f"RESULT watchers={args.watchers} beats={beats} ok={ok} "
        f"p50_ms={percentile(latencies, 50):.1f} p99_ms={percentile(latencies, 99):.1f} "
        f"credited_error_s={error_s:.1f} rss_mb={peak_rss:.0f}"
    )


if __name__ == "__main__":
    main()
