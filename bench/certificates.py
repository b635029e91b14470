"""Certificate throughput: queue N certificates and wait until W worker processes issued them.

    .venv/bin/python bench/certificates.py --count 3000 --workers 1

Everything is private and temporary: a SQLite database, a redis-server on a unix socket
and the data directory live in a temp dir that is removed at the end. N learners get a
real-looking ID photo (a ~30 KB JPEG, re-encoded by the profile service's rules) and a
passed attempt written straight into the exam tables; the jobs are queued exactly as the
exam area queues them (``queue_certificates``) and run by real ``python -m app worker``
processes. The last line is

    RESULT count=N seconds=.. per_cert_p50_ms=.. per_cert_p95_ms=.. rss_mb=..

seconds: from the first job queued to the last certificate issued. per_cert: each job's
own processing time (claim, content, render, write, record) as the job measured it,
without the time it waited in the queue. rss_mb: the largest peak RSS of a worker process.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from app import migrate  # noqa: E402
from app.accounts import idcard  # noqa: E402
from app.accounts.models import User, UserRole, index_of  # noqa: E402
from app.certificates import issuing  # noqa: E402
from app.certificates.models import Certificate, CertificateState  # noqa: E402
from app.config import Config  # noqa: E402
from app.exams.models import Attempt  # noqa: E402
from app.exams.statuses import AttemptStatus, EndedBy  # noqa: E402
from app.learning.models import Batch, Enrolment  # noqa: E402
from app.services import build_services  # noqa: E402
from bench.system import require  # noqa: E402

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "安全建国志强文华明晓东海燕红军伟芳娜秀英敏静丽杰涛磊洋勇艳超平刚桂兰"
UNITS = [
    "天津某建设集团有限公司",
    "中国某化工股份有限公司天津分公司",
    "某市应急管理局",
    "某能源科技有限公司",
]


def photo(seed: int) -> bytes:
    """A 295×412 blue-background portrait with camera-like noise, as uploaded (JPEG q92)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (295, 412), (61, 133, 214))
    draw = ImageDraw.Draw(image)
    for y in range(412):
        draw.line((0, y, 295, y), fill=(61, 133 - y // 12, 214 - y // 10))
    skin = (238 - rng.randrange(30), 196 - rng.randrange(30), 165 - rng.randrange(30))
    draw.ellipse((88, 70, 207, 225), fill=skin)
    draw.ellipse((80, 50, 215, 140), fill=(35, 30, 28))
    draw.rectangle((50, 270, 245, 412), fill=(28 + rng.randrange(40), 36, 52))
    draw.polygon([(120, 270), (147, 330), (175, 270)], fill=(245, 245, 245))
    image = Image.blend(image, Image.effect_noise((295, 412), 18).convert("RGB"), 0.16)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, optimize=True)
    return out.getvalue()


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str]:
    sock = workdir / "redis.sock"
    proc = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
            "--dir", str(workdir), "--loglevel", "warning",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        if sock.exists():
            return proc, f"unix://{sock}"
        time.sleep(0.02)
    proc.terminate()
    sys.exit("redis-server did not start")


async def seed(svc, count: int) -> list[int]:
    """N learners with photos and one passed attempt each; returns the attempt ids."""
    now = svc.now()
    svc.config.photo_dir.mkdir(parents=True, exist_ok=True)
    photos = [photo(seed) for seed in range(16)]
    rng = random.Random(5)
    async with svc.db.write() as db:
        batch = Batch(
            name="注册安全工程师继续教育 2026年第一期",
            required_minutes=1920,
            required_public_minutes=640,
            min_study_days=10,
            study_deadline=now + dt.timedelta(days=30),
            exam_opens_at=now - dt.timedelta(days=1),
            exam_closes_at=now + dt.timedelta(days=30),
            created_at=now,
        )
        db.add(batch)
        await db.flush()
        users = []
        for i in range(count):
            name = f"bench{i:06d}.jpg"
            (svc.config.photo_dir / name).write_bytes(photos[i % len(photos)])
            birth = dt.date(1970, 1, 1) + dt.timedelta(days=i // 1000)
            id_number = idcard.make(f"120101{birth:%Y%m%d}{i % 1000:03d}")
            given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            users.append(
                {
                    "id_number": id_number,
                    "id_number_index": index_of(id_number),
                    "name": rng.choice(SURNAMES) + given,
                    "gender": "男" if i % 2 else "女",
                    "work_unit": UNITS[i % len(UNITS)],
                    "password_hash": "!bench",
                    "must_change_password": False,
                    "password_issued_at": now,
                    "photo_file": name,
                    "photo_uploaded_at": now,
                    "tour_done": True,
                    "is_active": True,
                    "created_at": now,
                }
            )
        await db.execute(insert(User), users)
        ids = list(await db.scalars(select(User.id).order_by(User.id)))
        await db.execute(insert(UserRole), [{"user_id": u, "role": "learner"} for u in ids])
        await db.execute(
            insert(Enrolment),
            [{"user_id": u, "batch_id": batch.id, "enrolled_at": now} for u in ids],
        )
        await db.execute(
            insert(Attempt),
            [
                {
                    "user_id": u,
                    "batch_id": batch.id,
                    "number": 1,
                    "seed": u,
                    "rules": "{}",
                    "paper": "[]",
                    "status": AttemptStatus.CLOSED,
                    "started_at": now - dt.timedelta(minutes=60),
                    "deadline": now + dt.timedelta(minutes=60),
                    "ended_at": now,
                    "ended_by": EndedBy.SUBMITTED,
                    "score": 60 + rng.randrange(0, 81) / 2,
                    "passed": True,
                    "graded_answers": "{}",
                }
                for u in ids
            ],
        )
        return list(await db.scalars(select(Attempt.id).order_by(Attempt.id)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def run(args: argparse.Namespace, workdir: Path, redis_url: str) -> int:
    config = Config(
        data_dir=workdir / "data",
        database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        redis_url=redis_url,
    )
    config.data_dir.mkdir()
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    svc = build_services(config)
    started = time.perf_counter()
    attempt_ids = await seed(svc, args.count)
    print(f"seeded {args.count} learners with photos in {time.perf_counter() - started:.1f}s")

    env = dict(
        os.environ,
        SAFECE_DATA_DIR=str(config.data_dir),
        SAFECE_DATABASE_URL=config.database_url,
        SAFECE_REDIS_URL=redis_url,
    )
    workers = [
        subprocess.Popen([sys.executable, "-m", "app", "worker"], env=env, cwd=ROOT)
        for _ in range(args.workers)
    ]
    try:
        # Ready once the certificate queue's worker wrote its health check (then a moment
        # for the other processes, which start alike).
        while not await svc.redis.exists(f"{issuing.QUEUE}:health-check"):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        print(f"{args.workers} worker process(es) up; queueing {args.count} certificates")
        cpu_before = sum(cpu_seconds(w.pid) for w in workers)
        started = time.perf_counter()
        queued = await issuing.queue_certificates(svc, attempt_ids)
        print(f"queued {queued} jobs in {time.perf_counter() - started:.1f}s")
        issued = failed = 0
        last_report = started
        while True:
            async with svc.db.read() as db:
                counts = dict(
                    (
                        await db.execute(
                            select(Certificate.state, func.count()).group_by(Certificate.state)
                        )
                    ).all()
                )
            issued = counts.get(CertificateState.ISSUED, 0)
            failed = counts.get(CertificateState.FAILED, 0)
            now = time.perf_counter()
            if issued + failed >= args.count:
                break
            if now - started > args.timeout:
                print(f"timeout: {counts}")
                break
            if now - last_report >= 10:
                print(f"  {now - started:6.1f}s issued {issued}/{args.count}", flush=True)
                last_report = now
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        rss = max(peak_rss_mb(w.pid) for w in workers)
        # CPU the workers spent, a figure that other load on the machine barely changes.
        cpu = sum(cpu_seconds(w.pid) for w in workers) - cpu_before
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.kill()

    async with svc.db.read() as db:
        rows = (await db.execute(select(Certificate.render_ms, Certificate.number))).all()
    await svc.close()
    times = sorted(r.render_ms for r in rows if r.render_ms is not None)
    numbers = {r.number for r in rows}
    files = list((config.data_dir / "certificates").glob("*.pdf"))
    sizes = [f.stat().st_size for f in files]
    print(
        f"issued={issued} failed={failed} distinct_numbers={len(numbers)} files={len(files)} "
        f"pdf_kb_avg={statistics.mean(sizes) / 1024 if sizes else 0:.1f} "
        f"throughput={issued / seconds:.1f}/s cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f}"
    )
    print(
        f"worker_cpu_seconds={cpu:.1f} cpu_ms_per_cert={cpu * 1000 / max(issued, 1):.0f} "
        "(load is the 1-minute load average: other work on the machine slows every figure)"
    )
    p50 = statistics.median(times) if times else 0
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))] if times else 0
    print(
        f"RESULT count={issued} seconds={seconds:.1f} per_cert_p50_ms={p50:.0f} "
        f"per_cert_p95_ms={p95:.0f} rss_mb={rss:.0f}"
    )
    return 0 if issued == args.count and len(numbers) == args.count else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="certificates to issue")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--timeout", type=float, default=900, help="give up after seconds")
    args = parser.parse_args()
    require("redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="safece-bench-cert-"))
    redis, redis_url = start_redis(workdir)
    try:
        code = asyncio.run(run(args, workdir, redis_url))
    finally:
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
