"""Benchmark helpers: a private stack (redis-server, SQLite, uvicorn) under a temp dir,
learners created in bulk with a cheap password hash, real logins, and process RSS.

Each benchmark starts what it measures as separate processes, so the load generator and
the server compete for the machine the way they would on a real host.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.accounts import idcard  # noqa: E402
from app.accounts.models import User, UserRole, index_of  # noqa: E402

BENCH_PASSWORD = "Bench-Pass-2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes and all their descendants, in MB."""
    total = 0
    for pid in _descendants(pids):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def _descendants(pids: list[int]) -> list[int]:
    seen, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        with contextlib.suppress(OSError):
            todo.extend(
                int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            )
    return seen


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes and their descendants."""
    total = 0
    for pid in _descendants(pids):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_load() -> str:
    """The 1/5/15-minute load averages, to note beside a measurement."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclasses.dataclass
class Stack:
    """A running Redis and uvicorn server(s) on a private SQLite database."""

    workdir: Path
    database_url: str
    redis_url: str
    base_url: str = ""
    redis: subprocess.Popen | None = None
    servers: list[subprocess.Popen] = dataclasses.field(default_factory=list)

    @property
    def server_pids(self) -> list[int]:
        return [p.pid for p in self.servers]

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SAFECE_DATA_DIR=str(self.workdir),
            SAFECE_DATABASE_URL=self.database_url,
            SAFECE_REDIS_URL=self.redis_url,
            # Every simulated learner logs in from this one address.
            SAFECE_CAPTCHA_PER_IP_MINUTE="1000000",
            PYTHONPATH=str(ROOT),
        )
        env.update(extra)
        return env

    def start_server(self, *, workers: int = 1, ws: str = "websockets-sansio", **env: str) -> None:
        """uvicorn with the app factory, uvloop and httptools; waits for /healthz."""
        port = free_port()
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "app.asgi:serve",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--loop", "uvloop", "--http", "httptools", "--ws", ws,
            "--backlog", "8192", "--timeout-keep-alive", "30",
            # Engine.IO already pings every 25 s: a second WebSocket-level ping layer and
            # per-message compression of 100-byte frames only cost CPU.
            "--ws-ping-interval", "600", "--ws-per-message-deflate", "false",
        ]  # fmt: skip
        if workers > 1:
            command += ["--workers", str(workers)]
        self.servers.append(
            subprocess.Popen(command, cwd=ROOT, env=self.env(**env), start_new_session=True)
        )
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as r,
            ):
                if r.status == 200:
                    return
            if self.servers[-1].poll() is not None:
                raise RuntimeError("server exited during start-up")
            time.sleep(0.2)
        raise RuntimeError("server did not become healthy within 60 s")

    def stop(self) -> None:
        """Stop the servers, then Redis (servers hold Redis connections), then clean up."""
        for group in (self.servers, [self.redis]):
            for proc in group:
                if proc is not None and proc.poll() is None:
                    proc.terminate()
            for proc in group:
                if proc is None:
                    continue
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_stack() -> Stack:
    """Start redis-server on a unix socket and migrate a fresh SQLite database."""
    from app import migrate
    from app.config import Config
    from app.lib import crypto
    from bench.system import require

    require("redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="safece-bench-"))
    sock = workdir / "redis.sock"
    redis = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
            "--maxclients",
            "20000",
        ],  # fmt: skip
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        if sock.exists():
            break
        time.sleep(0.02)
    database_url = f"sqlite+aiosqlite:///{workdir / 'safece.db'}"
    migrate.upgrade(database_url)
    # The servers' key file (SAFECE_DATA_DIR is the work dir): seeding encrypts with it too.
    crypto.install(Config(data_dir=workdir, database_url=database_url))
    return Stack(
        workdir=workdir, database_url=database_url, redis_url=f"unix://{sock}", redis=redis
    )


def bench_id_number(i: int) -> str:
    """A distinct valid ID number for learner i (1000 per birth date)."""
    birth = dt.date(1970, 1, 1) + dt.timedelta(days=i // 1000)
    return idcard.make(f"120101{birth:%Y%m%d}{i % 1000:03d}")


async def create_learners(
    session, *, count: int, batch_id: int, now: dt.datetime, first: int = 0
) -> list[str]:
    """Insert `count` learners enrolled in a batch; one cheap argon2 hash for all of them.
    ``first`` numbers them on from there, so that several groups never share an ID."""
    from argon2 import PasswordHasher
    from sqlalchemy import insert, select

    from app.learning.models import Enrolment

    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(BENCH_PASSWORD)
    numbers = [bench_id_number(i) for i in range(first, first + count)]
    rows = [
        dict(
            id_number=n, id_number_index=index_of(n), name=f"压测学员{i}", gender="男", work_unit="压测单位",
            password_hash=cheap, must_change_password=False, password_issued_at=now,
            tour_done=True, is_active=True, created_at=now,
        )
        for i, n in enumerate(numbers)
    ]  # fmt: skip
    for start in range(0, count, 500):
        await session.execute(insert(User), rows[start : start + 500])
    ids = list(await session.scalars(select(User.id).where(User.id_number.in_(numbers))))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(insert(UserRole), [dict(user_id=u, role="learner") for u in chunk])
        await session.execute(
            insert(Enrolment), [dict(user_id=u, batch_id=batch_id, enrolled_at=now) for u in chunk]
        )
    return numbers


CAPTCHA_ID = re.compile(r'id="captcha-id" value="([^"]+)"')
CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


async def login(http, redis, id_number: str, password: str = BENCH_PASSWORD) -> str:
    """Log in through the real form (captcha answer read from Redis); return the cookie."""
    import json

    page = await (await http.get("/login")).text()
    captcha_id = CAPTCHA_ID.search(page).group(1)
    answer = json.loads(await redis.get(f"captcha:{captcha_id}"))["answer"]
    form = {
        "csrf_token": CSRF.search(page).group(1),
        "captcha_id": captcha_id,
        "captcha": answer,
        "username": id_number,
        "password": password,
    }
    async with http.post("/login", data=form, allow_redirects=False) as response:
        if response.status != 302:
            raise RuntimeError(f"login of {id_number} failed: HTTP {response.status}")
        return response.cookies["safece_session"].value


async def login_all(
    base_url: str, redis_url: str, id_numbers: list[str], concurrency: int = 16
) -> list[str]:
    """Log every learner in (bounded concurrency); returns their session cookies in order."""
    import aiohttp
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    gate = asyncio.Semaphore(concurrency)
    cookies: list[str] = [""] * len(id_numbers)

    async def one(i: int, number: str) -> None:
        async with (
            gate,
            aiohttp.ClientSession(base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        ):
            cookies[i] = await login(http, redis, number)

    try:
        await asyncio.gather(*(one(i, n) for i, n in enumerate(id_numbers)))
    finally:
        await redis.aclose()
    return cookies


def quiet_gc() -> None:
    """A load generator holding thousands of clients collects like the servers do
    (``app.asgi.GC_THRESHOLDS``): with CPython's defaults its own collections stop its
    event loop for hundreds of milliseconds, and every reply in flight would count that
    pause as the server's latency."""
    import gc

    from app.asgi import GC_THRESHOLDS

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of a list of numbers."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]
