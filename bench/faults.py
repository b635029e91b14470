"""Faults under load: nothing acknowledged is lost.

    .venv/bin/python bench/faults.py --clients 200 --trials 100

It starts its own stack in a temp dir, as separate processes: redis-server (append-only
file, fsync every second, as `make run` starts it), SQLite, several uvicorn server
processes (``app.asgi:serve``) and an arq worker. N learners each sit an exam over
Socket.IO /exam, saving an answer about every second (acknowledged only after the commit);
M learners study a video over /study (beats every 2 s). Then, one after the other:

1. ``server_sigkill`` — a server process is SIGKILLed (and restarted) ``--trials`` times
   while the N clients save; a client of a killed server reconnects to another, joins again
   and resends what was not acknowledged, as the page does.
2. ``redis_kill_exam`` / ``redis_kill_study`` — redis-server gets ``kill -9`` mid-exam and
   mid-study and is restarted from its append-only file; events answer ``busy`` meanwhile
   and the clients carry on. For study, the acknowledged credit missing from the database
   once everything is flushed is ``lost_credit_s`` (docs/realtime.md states the bound).
3. ``db_locked`` — another process holds the SQLite write lock for 10 s: saves answer
   ``busy`` within 2 s, the clients keep them and send them again.
4. ``worker_kill_sweep`` — every paper's deadline falls at T; the worker is killed right
   after T, mid-sweep, and restarted: every paper is submitted, once, with every
   acknowledged answer in its grade.
5. ``worker_kill_certificate`` — K certificates are queued and the worker is killed while
   rendering them, then restarted: each passed attempt ends with exactly one certificate.

Every acknowledged answer must be in the database afterwards (with the same or a newer
seq), and in the end in its paper's ``graded_answers``. The last line is

    RESULT faults=.. trials=.. lost_acks=.. lost_credit_s=.. duplicate_submissions=..

``duplicate_submissions``: pages told ``submitted`` more than once for one paper, plus
certificates beyond one per passed attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, create_learners, free_port, machine_load  # noqa: E402

LETTERS = "ABCDEFGH"
SAVE_INTERVAL = 1.0
BEAT_SECONDS = 2


# ---------------------------------------------------------------------------- the stack


class Redis:
    """redis-server on a unix socket, persisting to an append-only file (fsync each second)."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.sock = self.dir / "redis.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                "0",
                "--unixsocket",
                str(self.sock),
                "--dir",
                str(self.dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--maxclients",
                "20000",
                "--loglevel",
                "warning",
            ],  # fmt: skip
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, subprocess.CalledProcessError):
                subprocess.run(
                    ["redis-cli", "-s", str(self.sock), "ping"],
                    check=True,
                    capture_output=True,
                    timeout=2,
                )
                loading = subprocess.run(
                    ["redis-cli", "-s", str(self.sock), "info", "persistence"],
                    capture_output=True,
                    text=True,
                    timeout=2,
                ).stdout
                if "loading:0" in loading:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)


class Server:
    """One uvicorn server process on a fixed port, which can be killed and started again."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.up = False

    def start(self) -> None:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "app.asgi:serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "critical",
            "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
            "--ws-ping-interval", "600", "--ws-per-message-deflate", "false",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, start_new_session=True, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/healthz", timeout=2) as r,
            ):
                if r.status == 200:
                    self.up = True
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def kill(self) -> None:
        self.up = False
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self.up = False
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Worker:
    """``python -m app worker`` (exam deadline sweeper, certificates)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "worker"],
            cwd=ROOT,
            env=self.env,
            start_new_session=True,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------------------- data


async def seed(database_url: str, redis_url: str, exam_clients: int, study_clients: int):
    """An exam batch (demo bank and policy) and a study batch (one long video), their
    learners, and a session for each made straight in Redis."""
    import redis.asyncio as aioredis
    from sqlalchemy import select

    from app.accounts import sessions
    from app.accounts.models import User
    from app.clock import utcnow
    from app.db import Database
    from app.exams import policies
    from app.learning.models import Batch, Course, Video
    from devtools.demo import exams as exams_demo

    now = utcnow()
    db = Database(database_url)
    async with db.write() as session:

        def batch(name: str, exams_open: bool) -> Batch:
            return Batch(
                name=name,
                required_minutes=0,
                required_public_minutes=0,
                min_study_days=0,
                study_deadline=now + dt.timedelta(days=30),
                exam_opens_at=now - dt.timedelta(hours=1)
                if exams_open
                else now + dt.timedelta(days=40),
                exam_closes_at=now + dt.timedelta(days=50),
                created_at=now,
            )

        exam_batch, study_batch = batch("故障测试考试批次", True), batch("故障测试学习批次", False)
        session.add_all([exam_batch, study_batch])
        await session.flush()
        bank = await exams_demo.seed_bank(session=session, now=now)
        await policies.set_policy(session=session, batch_id=exam_batch.id, bank_id=bank.id, now=now)
        course = Course(
            batch_id=study_batch.id, name="故障测试课程", lecturer="测试", kind="public",
            required=True, position=1, created_at=now,
        )  # fmt: skip
        session.add(course)
        await session.flush()
        video = Video(
            course_id=course.id, title="故障测试视频", position=1, duration_ms=4 * 3600 * 1000,
            file="bench/none.mp4", mimetype="video/mp4", created_at=now,
        )  # fmt: skip
        session.add(video)
        await session.flush()
        exam_numbers = await create_learners(
            session, count=exam_clients, batch_id=exam_batch.id, now=now
        )
        study_numbers = await create_learners(
            session, count=study_clients, batch_id=study_batch.id, now=now, first=100_000
        )
        ids = dict((await session.execute(select(User.id_number, User.id))).all())
        exam_batch_id, video_id = exam_batch.id, video.id
    await db.dispose()
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    people = {}
    for number in exam_numbers + study_numbers:
        s = await sessions.create(redis, user_id=ids[number], must_change=False, ttl_seconds=86400)
        people[number] = {"cookie": s.token, "csrf": s.csrf, "user_id": ids[number]}
    await redis.aclose()
    return (
        exam_batch_id,
        video_id,
        [people[n] for n in exam_numbers],
        [people[n] for n in study_numbers],
    )


async def seed_certificates(config, count: int) -> list[int]:
    """K learners with photos and a passed attempt each (as bench/certificates.py)."""
    from sqlalchemy import insert, select

    from app.accounts.models import User
    from app.clock import utcnow
    from app.db import Database
    from app.exams.models import Attempt
    from app.exams.statuses import AttemptStatus, EndedBy
    from app.learning.models import Batch
    from bench.certificates import photo

    now = utcnow()
    config.photo_dir.mkdir(parents=True, exist_ok=True)
    db = Database(config.database_url)
    async with db.write() as session:
        batch = Batch(
            name="故障测试证书批次", required_minutes=0, required_public_minutes=0,
            min_study_days=0, study_deadline=now + dt.timedelta(days=30),
            exam_opens_at=now - dt.timedelta(days=1), exam_closes_at=now + dt.timedelta(days=30),
            created_at=now,
        )  # fmt: skip
        session.add(batch)
        await session.flush()
        numbers = await create_learners(
            session, count=count, batch_id=batch.id, now=now, first=200_000
        )
        ids = list(await session.scalars(select(User.id).where(User.id_number.in_(numbers))))
        for i, user_id in enumerate(ids):
            name = f"fault{i:05d}.jpg"
            (config.photo_dir / name).write_bytes(photo(i))
            user = await session.get(User, user_id)
            user.photo_file, user.photo_uploaded_at = name, now
        await session.execute(
            insert(Attempt),
            [
                dict(
                    user_id=u,
                    batch_id=batch.id,
                    number=1,
                    seed=u,
                    rules="{}",
                    paper="[]",
                    status=AttemptStatus.CLOSED,
                    started_at=now - dt.timedelta(minutes=60),
                    deadline=now,
                    ended_at=now,
                    ended_by=EndedBy.SUBMITTED,
                    score=80.0,
                    passed=True,
                    graded_answers="{}",
                )  # fmt: skip
                for u in ids
            ],
        )
        attempt_ids = list(
            await session.scalars(select(Attempt.id).where(Attempt.batch_id == batch.id))
        )
    await db.dispose()
    return attempt_ids


# ---------------------------------------------------------------------------- clients


class Stats:
    def __init__(self) -> None:
        self.acks: list[tuple[int, int, int, str]] = []
        self.codes: dict[str, int] = {}
        self.submitted: dict[int, int] = {}

    def code(self, name: str) -> None:
        self.codes[name] = self.codes.get(name, 0) + 1


class ExamClient:
    """A learner's exam page: saves about every second, keeps what is not acknowledged,
    reconnects to a live server and resends it, as static/js/exam.js does."""

    def __init__(self, n: int, person: dict, servers: list[Server], stats: Stats, rng) -> None:
        self.n, self.person, self.servers, self.stats, self.rng = n, person, servers, stats, rng
        self.tab = f"fault-{n:06d}"
        self.attempt_id = 0
        self.paper: list[tuple[int, str, int]] = []
        self.seq = 0
        self.pending: dict[int, tuple[str, int]] = {}
        self.client = None
        self.closed = False

    async def connect(self) -> bool:
        import socketio

        if self.client is not None and self.client.connected:
            return True
        up = [s for s in self.servers if s.up] or self.servers
        server = up[self.n % len(up)] if self.rng.random() < 0.5 else self.rng.choice(up)
        client = socketio.AsyncClient(reconnection=False)

        async def on_submitted(data):
            self.stats.submitted[self.attempt_id] = self.stats.submitted.get(self.attempt_id, 0) + 1
            self.closed = True

        client.on("submitted", on_submitted, namespace="/exam")
        try:
            await client.connect(
                server.url,
                headers={"Cookie": f"safece_session={self.person['cookie']}"},
                namespaces=["/exam"],
                transports=["websocket"],
                wait_timeout=10,
            )
            reply = await client.call(
                "join",
                {"attempt_id": self.attempt_id, "tab": self.tab},
                namespace="/exam",
                timeout=10,
            )
        except Exception:
            with contextlib.suppress(Exception):
                await client.disconnect()
            return False
        if not reply.get("ok"):
            self.stats.code(f"join:{reply.get('code')}")
            await client.disconnect()
            return False
        if reply.get("status") != "open":
            self.closed = True
        for qid, answer in reply.get("answers", {}).items():
            mine = self.pending.get(int(qid))
            if mine and mine[1] <= answer["seq"]:
                self.pending.pop(int(qid))
        self.seq = max(self.seq, reply.get("max_seq", 0))
        self.client = client
        return True

    async def save(self, qid: int, value: str, seq: int) -> None:
        try:
            reply = await self.client.call(
                "answer",
                {"question_id": qid, "value": value, "seq": seq},
                namespace="/exam",
                timeout=10,
            )
        except Exception:
            self.stats.code("no_ack")
            with contextlib.suppress(Exception):
                await self.client.disconnect()
            return
        if reply.get("ok"):
            self.stats.acks.append((self.attempt_id, qid, seq, value))
            if self.pending.get(qid, ("", -1))[1] <= seq:
                self.pending.pop(qid, None)
        else:
            self.stats.code(reply.get("code", "?"))
            if reply.get("code") in ("time_up", "attempt_closed"):
                self.closed = True

    async def run(self, saving: asyncio.Event, stop: asyncio.Event) -> None:
        await asyncio.sleep(self.rng.uniform(0, SAVE_INTERVAL))
        while not stop.is_set() and not self.closed:
            if not await self.connect():
                await asyncio.sleep(0.3)
                continue
            for qid, (value, seq) in list(self.pending.items()):
                await self.save(qid, value, seq)
            if saving.is_set():
                qid, kind, options = self.rng.choice(self.paper)
                if kind == "judge":
                    value = self.rng.choice("TF")
                elif kind == "single":
                    value = self.rng.choice(LETTERS[:options])
                else:
                    value = "".join(sorted(self.rng.sample(LETTERS[:options], 2)))
                self.seq += 1
                self.pending[qid] = (value, self.seq)
                await self.save(qid, value, self.seq)
            elif not self.pending:
                await asyncio.sleep(0.2)
                continue
            await asyncio.sleep(SAVE_INTERVAL * self.rng.uniform(0.7, 1.3))

    async def close(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.disconnect()


class StudyClient:
    """A learner playing one video: beats every 2 s with the real playing position."""

    def __init__(self, n: int, person: dict, servers: list[Server], video_id: int, rng) -> None:
        self.n, self.person, self.servers, self.video_id, self.rng = (
            n,
            person,
            servers,
            video_id,
            rng,
        )
        self.credited_ms = 0
        self.client = None
        self.token = None
        self.seq = 0
        self.position = 0.0
        self.codes: dict[str, int] = {}

    async def call(self, event: str, data: dict) -> dict:
        import socketio

        if self.client is None or not self.client.connected:
            up = [s for s in self.servers if s.up] or self.servers
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(
                up[self.n % len(up)].url,
                headers={"Cookie": f"safece_session={self.person['cookie']}"},
                namespaces=["/study"],
                transports=["websocket"],
                wait_timeout=10,
            )
            self.client = client
        return await self.client.call(event, data, namespace="/study", timeout=10)

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self.rng.uniform(0, BEAT_SECONDS))
        last = loop.time()
        while not stop.is_set():
            now = loop.time()
            self.position += now - last  # the video plays on, whatever the network does
            last = now
            try:
                if self.token is None:
                    reply = await self.call("start", {"video_id": self.video_id})
                    if reply.get("ok"):
                        self.token, self.seq = reply["token"], 0
                        self.position = reply["resume_s"]
                else:
                    self.seq += 1
                    reply = await self.call(
                        "beat",
                        {"token": self.token, "seq": self.seq, "position": self.position,
                         "reason": "tick", "rate": 1},
                    )  # fmt: skip
                    if reply.get("ok"):
                        self.credited_ms += round(reply["credited_s"] * 1000)
                    elif reply.get("code") in ("play_expired", "play_replaced"):
                        self.token = None
                if not reply.get("ok"):
                    self.codes[reply.get("code", "?")] = (
                        self.codes.get(reply.get("code", "?"), 0) + 1
                    )
            except Exception:
                self.codes["no_ack"] = self.codes.get("no_ack", 0) + 1
                with contextlib.suppress(Exception):
                    await self.client.disconnect()
            await asyncio.sleep(BEAT_SECONDS)
        with contextlib.suppress(Exception):
            if self.token:
                await self.call("stop", {"token": self.token})
            await self.client.disconnect()


# ---------------------------------------------------------------------------- checks


def lost_acks(db_path: str, acks: list, graded: bool = False) -> int:
    """Acknowledged answers the database does not hold (with the same or a newer seq)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        if graded:
            stored = {}
            for aid, raw in con.execute("SELECT id, graded_answers FROM exam_attempts"):
                for qid, (value, seq) in json.loads(raw or "{}").items():
                    stored[(aid, int(qid))] = (value, seq)
        else:
            stored = {
                (aid, qid): (value, seq)
                for aid, qid, value, seq in con.execute(
                    "SELECT attempt_id, question_id, value, seq FROM exam_answers"
                )
            }
    finally:
        con.close()
    lost = 0
    for attempt_id, qid, seq, value in acks:
        held = stored.get((attempt_id, qid))
        if held is None or held[1] < seq or (held[1] == seq and held[0] != value):
            lost += 1
    return lost


def query(db_path: str, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------- the run


async def run(args) -> int:
    import aiohttp
    import redis.asyncio as aioredis

    from app import migrate
    from app.config import Config
    from app.lib import crypto
    from app.services import build_services

    workdir = Path(tempfile.mkdtemp(prefix="safece-faults-"))
    (workdir / "data").mkdir()
    redis = Redis(workdir)
    redis.start()
    db_path = str(workdir / "safece.db")
    database_url = f"sqlite+aiosqlite:///{db_path}"
    await asyncio.to_thread(migrate.upgrade, database_url)
    crypto.install(Config(data_dir=workdir / "data", database_url=database_url))
    env = dict(
        os.environ,
        SAFECE_DATA_DIR=str(workdir / "data"),
        SAFECE_DATABASE_URL=database_url,
        SAFECE_REDIS_URL=redis.url,
        SAFECE_STUDY_BEAT_SECONDS=str(BEAT_SECONDS),
        SAFECE_CERTIFICATE_LEASE_SECONDS="5",
        SAFECE_CERTIFICATE_JOB_SECONDS=str(args.certificate_job_seconds),
        PYTHONPATH=str(ROOT),
    )
    servers = [Server(env) for _ in range(args.servers)]
    worker = Worker(env)
    lines: list[str] = []
    total = {"trials": 0, "lost_acks": 0, "lost_credit_s": 0.0, "duplicates": 0}
    rng = random.Random(args.seed)

    def report(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        print(f"machine load before: {machine_load()}", flush=True)
        batch_id, video_id, exam_people, study_people = await seed(
            database_url, redis.url, args.clients, args.learners
        )
        await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
        worker.start()
        print(f"{len(servers)} servers, 1 worker up; {args.clients} exam clients", flush=True)

        # Every exam client starts its attempt over HTTP, as the 我的考试 page does.
        stats = Stats()
        clients = [
            ExamClient(n, p, servers, stats, random.Random(rng.random()))
            for n, p in enumerate(exam_people)
        ]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            gate = asyncio.Semaphore(16)

            async def begin(c: ExamClient) -> None:
                async with (
                    gate,
                    http.post(
                        f"{servers[c.n % len(servers)].url}/api/exams/{batch_id}/start",
                        json={},
                        headers={
                            "Cookie": f"safece_session={c.person['cookie']}",
                            "X-CSRF-Token": c.person["csrf"],
                            "Accept": "application/json",
                        },
                    ) as response,
                ):
                    c.attempt_id = (await response.json())["attempt_id"]
                [(raw,)] = query(
                    db_path, "SELECT paper FROM exam_attempts WHERE id = ?", c.attempt_id
                )
                c.paper = [(int(q), t, len(order)) for q, (t, order) in json.loads(raw).items()]

            await asyncio.gather(*(begin(c) for c in clients))

        saving, stop = asyncio.Event(), asyncio.Event()
        tasks = [asyncio.create_task(c.run(saving, stop)) for c in clients]

        async def phase(name: str, fault, trials: int = 1, **extra) -> None:
            """Save under the fault, then drain what is pending and check every ack."""
            before_acks, before_codes = len(stats.acks), dict(stats.codes)
            saving.set()
            await asyncio.sleep(2)
            await fault()
            await asyncio.sleep(2)
            saving.clear()
            for _ in range(600):  # until every client has nothing unacknowledged
                if all(not c.pending or c.closed for c in clients):
                    break
                await asyncio.sleep(0.1)
            acks = stats.acks[before_acks:]
            lost = lost_acks(db_path, acks)
            codes = {
                k: v - before_codes.get(k, 0)
                for k, v in stats.codes.items()
                if v != before_codes.get(k, 0)
            }
            unsent = sum(len(c.pending) for c in clients if not c.closed)
            total["trials"] += trials
            total["lost_acks"] += lost
            report(
                f"FAULT {name} trials={trials} acks={len(acks)} lost_acks={lost} "
                f"still_unacknowledged={unsent} refusals={codes or 'none'}"
                + "".join(f" {k}={v}" for k, v in extra.items())
            )

        # 1. Server processes SIGKILLed while the clients save.
        async def kill_servers() -> None:
            began = time.monotonic()
            for trial in range(args.trials):
                await asyncio.sleep(rng.uniform(0.3, 0.9))
                while sum(s.up for s in servers) < len(servers) - 1:
                    await asyncio.sleep(0.05)
                victim = [s for s in servers if s.up][trial % sum(s.up for s in servers)]
                victim.kill()
                asyncio.get_running_loop().run_in_executor(None, victim.start)
            while not all(s.up for s in servers):
                await asyncio.sleep(0.1)
            print(f"  {args.trials} kills in {time.monotonic() - began:.0f} s", flush=True)

        await phase("server_sigkill", kill_servers, trials=args.trials, servers=len(servers))

        # 2a. Redis killed mid-exam, restarted from its append-only file.
        async def kill_redis() -> None:
            redis.kill()
            await asyncio.sleep(3)
            await asyncio.to_thread(redis.start)

        await phase("redis_kill_exam", kill_redis)

        # 2b. Redis killed mid-study.
        study_stop = asyncio.Event()
        learners = [
            StudyClient(n, p, servers, video_id, random.Random(rng.random()))
            for n, p in enumerate(study_people)
        ]
        study_tasks = [asyncio.create_task(c.run(study_stop)) for c in learners]
        await asyncio.sleep(8)
        await kill_redis()
        await asyncio.sleep(10)
        study_stop.set()
        await asyncio.gather(*study_tasks)
        r = aioredis.Redis.from_url(redis.url, decode_responses=True)
        for _ in range(600):  # the flushers write the credits stream to the database
            if await r.xlen("study:credits") == 0:
                break
            await asyncio.sleep(0.1)
        await r.aclose()
        watched = dict(
            query(
                db_path,
                "SELECT user_id, watched_ms FROM video_progress WHERE video_id = ?",
                video_id,
            )
        )
        acked = sum(c.credited_ms for c in learners) / 1000
        lost_credit = (
            sum(max(0, c.credited_ms - watched.get(c.person["user_id"], 0)) for c in learners)
            / 1000
        )
        per_learner = (
            max(
                (max(0, c.credited_ms - watched.get(c.person["user_id"], 0)) for c in learners),
                default=0,
            )
            / 1000
        )
        codes: dict[str, int] = {}
        for c in learners:
            for k, v in c.codes.items():
                codes[k] = codes.get(k, 0) + v
        total["trials"] += 1
        total["lost_credit_s"] += lost_credit
        report(
            f"FAULT redis_kill_study trials=1 learners={len(learners)} acked_credit_s={acked:.1f} "
            f"lost_credit_s={lost_credit:.1f} worst_learner_lost_s={per_learner:.1f} "
            f"refusals={codes or 'none'}"
        )

        # 3. The database locked by another process for 10 s.
        async def lock_database() -> None:
            def hold() -> None:
                con = sqlite3.connect(db_path, timeout=30, isolation_level=None)
                con.execute("BEGIN EXCLUSIVE")
                time.sleep(10)
                con.execute("ROLLBACK")
                con.close()

            await asyncio.to_thread(hold)

        await phase("db_locked_10s", lock_database)

        # 4. Every deadline falls at T; the worker is killed mid-sweep and restarted.
        async def sweep_with_a_kill() -> None:
            at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)
            con = sqlite3.connect(db_path, timeout=30)
            with con:
                con.execute(
                    "UPDATE exam_attempts SET deadline = ? WHERE batch_id = ? AND status = 'open'",
                    (at.strftime("%Y-%m-%d %H:%M:%S.%f"), batch_id),
                )
            con.close()
            r = aioredis.Redis.from_url(redis.url)
            keys = [k async for k in r.scan_iter("exam:deadline:*")]
            if keys:
                await r.delete(*keys)  # the clock-sync cache; saves and the sweep read the database
            await r.aclose()
            await asyncio.sleep(max(0.0, (at - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)
            worker.kill()
            await asyncio.sleep(1.0)
            worker.start()
            for _ in range(900):
                [(still_open,)] = query(
                    db_path,
                    "SELECT count(*) FROM exam_attempts WHERE batch_id = ? AND status = 'open'",
                    batch_id,
                )
                if still_open == 0:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # let the pushes arrive

        await phase("worker_kill_sweep", sweep_with_a_kill)
        [(unsubmitted,)] = query(
            db_path,
            "SELECT count(*) FROM exam_attempts WHERE batch_id = ? AND status = 'open'",
            batch_id,
        )
        twice = sum(1 for n in stats.submitted.values() if n > 1)
        lost_graded = lost_acks(db_path, stats.acks, graded=True)
        total["lost_acks"] += lost_graded
        total["duplicates"] += twice
        report(
            f"FAULT worker_kill_sweep_grades trials=0 papers={len(clients)} unsubmitted={unsubmitted} "
            f"told_submitted={len(stats.submitted)} duplicate_submissions={twice} "
            f"acks_missing_from_grades={lost_graded}"
        )
        stop.set()
        await asyncio.gather(*tasks)
        for c in clients:
            await c.close()

        # 5. The worker killed while rendering certificates.
        config = Config(data_dir=workdir / "data", database_url=database_url, redis_url=redis.url)
        attempt_ids = await seed_certificates(config, args.certificates)
        svc = build_services(config)
        from app.certificates import issuing

        await issuing.queue_certificates(svc, attempt_ids)
        for _ in range(600):
            [(busy,)] = query(
                db_path, "SELECT count(*) FROM certificates WHERE state IN ('rendering', 'issued')"
            )
            if busy >= 2:
                break
            await asyncio.sleep(0.02)
        worker.kill()
        await asyncio.sleep(1.0)
        worker.start()
        began = time.monotonic()
        issued = 0
        while time.monotonic() - began < args.recovery_timeout:
            [(issued,)] = query(db_path, "SELECT count(*) FROM certificates WHERE state = 'issued'")
            if issued >= len(attempt_ids):
                break
            await asyncio.sleep(0.5)
        await svc.close()
        rows = query(
            db_path,
            f"SELECT attempt_id, number FROM certificates WHERE attempt_id IN ({','.join('?' * len(attempt_ids))})",
            *attempt_ids,
        )
        per_attempt: dict[int, int] = {}
        for attempt_id, _ in rows:
            per_attempt[attempt_id] = per_attempt.get(attempt_id, 0) + 1
        files = list((workdir / "data" / "certificates").glob("*.pdf"))
        extra = sum(n - 1 for n in per_attempt.values() if n > 1) + max(0, len(files) - len(rows))
        missing = len(attempt_ids) - issued
        total["trials"] += 1
        total["duplicates"] += extra
        report(
            f"FAULT worker_kill_certificate trials=1 certificates={len(attempt_ids)} issued={issued} "
            f"missing={missing} duplicates={extra} pdf_files={len(files)} "
            f"recovered_in_s={time.monotonic() - began:.1f}"
        )
        faults = 6
        report(
            f"RESULT faults={faults} trials={total['trials']} lost_acks={total['lost_acks']} "
            f"lost_credit_s={total['lost_credit_s']:.1f} duplicate_submissions={total['duplicates']}"
        )
        return 0 if total["lost_acks"] == 0 and total["duplicates"] == 0 and missing == 0 else 1
    finally:
        worker.stop()
        for s in servers:
            s.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200, help="exam clients saving")
    parser.add_argument("--learners", type=int, default=50, help="study clients beating")
    parser.add_argument("--trials", type=int, default=100, help="server processes killed")
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--certificates", type=int, default=30)
    parser.add_argument("--recovery-timeout", type=float, default=180.0)
    parser.add_argument(
        "--certificate-job-seconds",
        type=int,
        default=120,
        help="SAFECE_CERTIFICATE_JOB_SECONDS: a killed worker's job runs again after this + 10 s",
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    threading.excepthook = lambda info: None  # a restart racing the end is not a failure
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
