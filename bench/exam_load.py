"""Exam load: N learners sit one exam over Socket.IO /exam, autosaving as they go.

    .venv/bin/python bench/exam_load.py --clients 3000 --save-interval 5 --duration 60

It starts the cluster of `make cluster` (devtools/cluster.py) in a temp dir: redis-server, the
database (``--database sqlite`` or ``postgresql``), ``--servers`` server processes behind
nginx and one arq worker, a batch with the default 70-question policy on
the demo bank, and N enrolled learners with sessions (made directly in Redis). All
clients connect; the administrator sets the exam window to close at T = now + ramp + D.
During the ramp every client starts its attempt over HTTP and joins it over Socket.IO,
so every deadline is T, the worst case for the sweeper. Then for D seconds each client
autosaves a random answer every S seconds (random phase) and re-syncs the clock every
30 s as the page does; a few drop their connection midway, reconnect, resume and resend
what was not acknowledged. Nobody submits: at T the server submits every paper itself.

Save latency is from emit to ack. Afterwards the database is checked: every acknowledged
answer must be in its paper's ``graded_answers`` with the same or a newer seq.
``forced_submit_s`` runs from T until the database shows no open attempt; ``rss_mb`` is
the peak resident memory of the server and worker processes; ``server_cpu_ms_per_ack`` is
the server processes' CPU time from the end of the ramp to T divided by the acknowledged
saves (it compares across runs on a noisy machine, where latencies do not).

    .venv/bin/python bench/exam_load.py --clients 1000 --servers 2 --database postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds as tree_cpu_seconds  # noqa: E402
from bench.common import (  # noqa: E402
    create_learners,
    machine_load,
    percentile,
    quiet_gc,
    rss_mb,
)
from bench.exam_report import (  # noqa: E402
    generator_stalls,
    profile_windows,
    slow_acks,
)

LETTERS = "ABCDEFGH"


async def setup_data(database_url: str, redis_url: str, clients: int) -> tuple[int, list[dict]]:
    """A batch anyone enrolled may sit, the demo bank and policy, learners with sessions."""
    import redis.asyncio as aioredis
    from sqlalchemy import select

    from app.accounts import sessions
    from app.accounts.models import User
    from app.clock import utcnow
    from app.db import Database
    from app.exams import policies
    from app.learning.models import Batch
    from devtools.demo import exams as exams_demo

    now = utcnow()
    db = Database(database_url)
    async with db.write() as session:
        batch = Batch(
            name=f"考试压测批次 {now:%H%M%S}",
            required_minutes=0,
            required_public_minutes=0,
            min_study_days=0,
            study_deadline=now + dt.timedelta(days=30),
            exam_opens_at=now - dt.timedelta(hours=1),
            exam_closes_at=now + dt.timedelta(days=30),
            created_at=now,
        )
        session.add(batch)
        await session.flush()
        bank = await exams_demo.seed_bank(session=session, now=now)
        await policies.set_policy(session=session, batch_id=batch.id, bank_id=bank.id, now=now)
        numbers = await create_learners(session, count=clients, batch_id=batch.id, now=now)
        ids = dict((await session.execute(select(User.id_number, User.id))).all())
        batch_id = batch.id
    await db.dispose()
    # Sessions are made directly in Redis: logging 3,000 people in is not what is measured.
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    people = []
    for number in numbers:
        s = await sessions.create(redis, user_id=ids[number], must_change=False, ttl_seconds=86400)
        people.append({"cookie": s.token, "csrf": s.csrf})
    await redis.aclose()
    return batch_id, people


async def set_window_end(database_url: str, batch_id: int, closes: dt.datetime) -> None:
    """What an administrator does: the exam window closes at this instant."""
    from sqlalchemy import update

    from app.db import Database
    from app.learning.models import Batch

    db = Database(database_url)
    async with db.write() as session:
        await session.execute(
            update(Batch).where(Batch.id == batch_id).values(exam_closes_at=closes)
        )
    await db.dispose()


def generator(index, people, options, ready, go, results) -> None:
    """One load-generator process for its share of the clients."""
    import uvloop

    uvloop.run(_generate(index, people, options, ready, go, results))


async def _generate(index, people, options, ready, go, results) -> None:
    import aiohttp
    import socketio

    urls, batch_id, database_url, interval, drop_fraction, seed, ramp = options
    rng = random.Random(seed + index)
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(64)
    lookup = Reader(database_url)

    def paper_of(attempt_id: int) -> list[tuple[int, str, int]]:
        # The browser reads the questions off the page; the harness reads them here.
        [(raw,)] = lookup.rows("SELECT paper FROM exam_attempts WHERE id = ?", attempt_id)
        return [(int(q), t, len(order)) for q, (t, order) in json.loads(raw).items()]

    class Learner:
        def __init__(self, n: int, person: dict) -> None:
            self.url = urls[n % len(urls)]
            self.cookie = person["cookie"]
            self.csrf = person["csrf"]
            self.tab = f"bench-{index}-{n:06d}"
            self.client: socketio.AsyncClient | None = None
            self.submitted = asyncio.Event()

        async def connect(self) -> None:
            async with gate:
                client = socketio.AsyncClient(reconnection=False)

                async def on_submitted(data):
                    self.submitted.set()

                client.on("submitted", on_submitted, namespace="/exam")
                await client.connect(
                    self.url,
                    headers={"Cookie": f"safece_session={self.cookie}"},
                    namespaces=["/exam"],
                    transports=["websocket"],
                    wait_timeout=60,
                )
                self.client = client

    learners = [Learner(n, p) for n, p in enumerate(people)]
    await asyncio.gather(*(learner.connect() for learner in learners))
    quiet_gc()
    await asyncio.to_thread(ready.wait)
    await asyncio.to_thread(go.wait)
    begin = loop.time()
    latencies: list[float] = []
    sent_at: list[float] = []  # epoch ms each save in ``latencies`` was sent
    start_ms: list[float] = []
    join_ms: list[float] = []
    joined_late = [0]  # clients whose join finished after the saving phase had begun
    acks: list[tuple[int, int, int, str]] = []
    acked_at: list[tuple[int, float]] = []  # (attempt, when its save was sent, epoch ms)
    errors: dict[str, int] = {}
    counts = {"saves": 0, "syncs": 0, "drops": 0, "submitted_events": 0}
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    def err(code: str) -> None:
        errors[code] = errors.get(code, 0) + 1

    async def sit(learner: Learner) -> None:
        # The ramp: attempts start at a pace spread over it.
        await asyncio.sleep(rng.uniform(0, ramp * 0.8))
        t = loop.time()
        try:
            async with http.post(
                f"{learner.url}/api/exams/{batch_id}/start",
                json={},
                headers={
                    "Cookie": f"safece_session={learner.cookie}",
                    "X-CSRF-Token": learner.csrf,
                    "Accept": "application/json",
                },
            ) as response:
                body = await response.json()
        except Exception as error:
            body = {"code": type(error).__name__}
        start_ms.append((loop.time() - t) * 1000)
        if "attempt_id" not in body:
            err(f"start:{body.get('code')}")
            return
        attempt_id = body["attempt_id"]
        paper = await asyncio.to_thread(paper_of, attempt_id)

        async def join(event: str) -> dict:
            t = loop.time()
            reply = await learner.client.call(
                "join",
                {"attempt_id": attempt_id, "tab": learner.tab},
                namespace="/exam",
                timeout=60,
            )
            join_ms.append((loop.time() - t) * 1000)
            if not reply.get("ok"):
                err(f"{event}:{reply.get('code')}")
            return reply

        joined = await join("join")
        if not joined.get("ok") or joined["status"] != "open":
            return
        if loop.time() > begin + ramp:
            joined_late[0] += 1
        deadline = joined["deadline"] / 1000  # epoch seconds on the server's clock (same host)
        saving_from = begin + ramp
        drop_after = (
            rng.uniform(0.2, 0.6) * (deadline - time.time() - (saving_from - loop.time()))
            if rng.random() < drop_fraction
            else None
        )
        seq = 0
        pending: dict[int, tuple[str, int]] = {}

        async def save(qid: int, value: str, s: int) -> None:
            sent = loop.time()
            sent_ms = time.time() * 1000
            try:
                reply = await learner.client.call(
                    "answer",
                    {"question_id": qid, "value": value, "seq": s},
                    namespace="/exam",
                    timeout=30,
                )
            except Exception as error:
                err(type(error).__name__)
                return
            counts["saves"] += 1
            latencies.append((loop.time() - sent) * 1000)
            sent_at.append(sent_ms)
            if reply.get("ok"):
                acks.append((attempt_id, qid, s, value))
                acked_at.append((attempt_id, sent_ms))
                if pending.get(qid, ("", -1))[1] <= s:
                    pending.pop(qid, None)
            else:
                err(reply.get("code", "?"))

        async def resync() -> None:
            # Like the page: the clock is re-read every ~30 s, never every second.
            await asyncio.sleep(rng.uniform(0, 30))
            while time.time() < deadline - 1:
                with contextlib.suppress(Exception):
                    await learner.client.call("sync", {}, namespace="/exam", timeout=30)
                    counts["syncs"] += 1
                await asyncio.sleep(30)

        syncing = asyncio.ensure_future(resync())
        await asyncio.sleep(max(0.0, saving_from - loop.time()) + rng.uniform(0, interval))
        drop_at = None if drop_after is None else saving_from + drop_after
        while time.time() < deadline - 0.05:
            if drop_at is not None and loop.time() >= drop_at:
                drop_at = None
                counts["drops"] += 1
                await learner.client.disconnect()
                await asyncio.sleep(rng.uniform(0.5, 2.0))
                await learner.connect()
                rejoined = await join("rejoin")
                if not rejoined.get("ok") or rejoined["status"] != "open":
                    return
                for qid, (value, s) in list(pending.items()):
                    await save(qid, value, s)
            qid, qtype, options = rng.choice(paper)
            if qtype == "judge":
                value = rng.choice("TF")
            elif qtype == "single":
                value = rng.choice(LETTERS[:options])
            else:
                value = "".join(sorted(rng.sample(LETTERS[:options], rng.randint(1, options))))
            seq += 1
            pending[qid] = (value, seq)
            await save(qid, value, seq)
            await asyncio.sleep(max(0.0, min(interval, deadline - time.time() - 0.05)))
        syncing.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                learner.submitted.wait(), timeout=max(5.0, deadline - time.time() + 15)
            )
        if learner.submitted.is_set():
            counts["submitted_events"] += 1

    async def guarded(learner: Learner) -> None:
        try:
            await sit(learner)
        except Exception as error:  # one client's failure is counted, not fatal
            err(f"client:{type(error).__name__}")

    stalls: list[tuple[float, float]] = []  # (epoch ms, ms this process's loop was late)

    async def probe() -> None:
        # The generator's own event loop: a stall here delays every reply it is waiting for.
        while True:
            t = loop.time()
            await asyncio.sleep(0.05)
            late = (loop.time() - t - 0.05) * 1000
            if late > 100:
                stalls.append((time.time() * 1000, late))

    probing = asyncio.ensure_future(probe())
    await asyncio.gather(*(guarded(learner) for learner in learners))
    probing.cancel()
    await http.close()
    for learner in learners:
        with contextlib.suppress(Exception):
            await learner.client.disconnect()
    lookup.close()
    results.put(
        {
            "latencies": latencies,
            "sent_at": sent_at,
            "stalls": stalls,
            "start_ms": start_ms,
            "join_ms": join_ms,
            "joined_late": joined_late[0],
            "acks": acks,
            "acked_at": acked_at,
            "errors": errors,
            **counts,
        }
    )


class Reader:
    """Read-only queries (``?`` placeholders) on the benchmark's SQLite file or PostgreSQL
    database, from synchronous code: the harness checks what the servers stored."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.engine import make_url

        url = make_url(database_url)
        self.lock = threading.Lock()
        if url.get_backend_name() == "sqlite":
            self.con = sqlite3.connect(
                f"file:{url.database}?mode=ro", uri=True, check_same_thread=False
            )
            self.loop = None
        else:
            import asyncpg

            # asyncpg on a loop of its own in a thread: callable from any thread, even one
            # running another loop (a load generator's).
            self.loop = asyncio.new_event_loop()
            threading.Thread(target=self.loop.run_forever, daemon=True).start()
            self.con = self._wait(
                asyncpg.connect(
                    user=url.username, database=url.database, host=url.query.get("host")
                )
            )

    def _wait(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def rows(self, sql: str, *params: object) -> list[tuple]:
        if self.loop is None:
            with self.lock:
                # fetchall: a half-read statement would hold a WAL snapshot (no checkpoints).
                return self.con.execute(sql, params).fetchall()
        numbered = sql.split("?")
        sql = "".join(f"{part}${n}" for n, part in enumerate(numbered[:-1], 1)) + numbered[-1]
        with self.lock:
            return [tuple(r) for r in self._wait(self.con.fetch(sql, *params))]

    def close(self) -> None:
        if self.loop is None:
            self.con.close()
        else:
            self._wait(self.con.close())
            self.loop.call_soon_threadsafe(self.loop.stop)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def watch_grading(
    reader: Reader, batch_id: int, deadline: float, stack_pids, samples, at_deadline
) -> float:
    """Poll the database from the deadline until no attempt is open; seconds it took.
    ``at_deadline()`` runs once the deadline has come."""
    while time.time() < deadline:
        samples.append(rss_mb(stack_pids()))
        time.sleep(min(0.5, max(0.0, deadline - time.time())))
    at_deadline()
    while True:
        [(open_count,)] = reader.rows(
            "SELECT count(*) FROM exam_attempts WHERE batch_id = ? AND status = 'open'", batch_id
        )
        [(started,)] = reader.rows(
            "SELECT count(*) FROM exam_attempts WHERE batch_id = ?", batch_id
        )
        if open_count == 0 and started:
            return time.time() - deadline
        if time.time() - deadline > 120:
            return float("inf")
        samples.append(rss_mb(stack_pids()))
        time.sleep(0.02)


def verify(reader: Reader, acks: list) -> tuple[int, int, int]:
    """(lost acks, attempts graded, attempts still open) — from the database."""
    rows = reader.rows("SELECT id, status, graded_answers FROM exam_attempts")
    graded = {aid: json.loads(g) for aid, status, g in rows if status == "closed" and g is not None}
    still_open = sum(1 for _, status, _ in rows if status == "open")
    lost = 0
    for attempt_id, qid, seq, value in acks:
        entry = graded.get(attempt_id, {}).get(str(qid))
        if entry is None or entry[1] < seq or (entry[1] == seq and entry[0] != value):
            lost += 1
    return lost, len(graded), still_open


def scrape_metrics(url: str, out: Path) -> None:
    """Save the cluster's /metrics (this machine may read it)."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        out.write_bytes(response.read())


class Hooks:
    """What another benchmark adds to this run (see bench/invigilation.py)."""

    async def prepare(self, config, batch_id: int) -> None:
        """After the data is made, before the servers start (``config``: the cluster's)."""

    def start(self, urls: list[str]) -> None:
        """The servers run and every learner is connected; the saving has not begun."""

    def finish(self, report: dict) -> str | None:
        """After grading; returns the RESULT line to print instead of this benchmark's."""
        return None


def parser() -> argparse.ArgumentParser:
    """The options of this benchmark (other benchmarks add theirs)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--save-interval", type=float, default=5.0)
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of autosaving until the deadline"
    )
    parser.add_argument(
        "--servers", type=int, default=1, help="server processes behind the cluster's nginx"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--procs", type=int, default=0, help="load-generator processes")
    parser.add_argument("--drop", type=float, default=0.05, help="share of clients that reconnect")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--port", type=int, default=0, help="nginx's port (default: a free one)")
    parser.add_argument(
        "--metrics", default="", help="write /metrics, scraped 3 s before the deadline, here"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="servers report each second (SAFECE_PROFILE) and the run prints it",
    )
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="seconds for starting attempts (default N/20)"
    )
    return parser


def main() -> None:
    # A SIGTERM (timeout, kill) stops the cluster too, through run()'s `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    run(parser().parse_args())


def run(args: argparse.Namespace, hooks: Hooks | None = None) -> None:
    """Start the stack, run the exam, check the database, print the results."""
    hooks = hooks or Hooks()
    ramp = args.ramp or max(5.0, args.clients / 20)
    procs = args.procs or max(1, min(4, (args.clients + 1499) // 1500))

    # The cluster `make cluster` starts (devtools/cluster.py): nginx in front of the servers.
    from app import migrate
    from app.lib import crypto
    from devtools.cluster import Cluster, Plan
    from devtools.processes import free_port

    workdir = Path(tempfile.mkdtemp(prefix="safece-bench-"))
    plan = Plan(
        directory=workdir,
        servers=args.servers,
        workers=1,
        port=args.port or free_port(),
        database=args.database,
    )
    cluster = Cluster(plan)
    reader: Reader | None = None
    try:
        print(f"machine load before: {machine_load()}", flush=True)
        config = cluster.start_stores()
        migrate.upgrade(config.database_url)
        crypto.install(config)  # the servers' key file: seeding encrypts with it too
        t = time.monotonic()
        batch_id, people = asyncio.run(
            setup_data(config.database_url, config.redis_url, args.clients)
        )
        asyncio.run(hooks.prepare(config, batch_id))
        print(f"created {len(people)} learners in {time.monotonic() - t:.1f} s", flush=True)
        profile = workdir / "profile.jsonl"
        if args.profile:
            os.environ["SAFECE_PROFILE"] = str(profile)  # the servers' environment
        cluster.start_processes()
        urls = [cluster.url]
        reader = Reader(config.database_url)
        server_pids = [proc.pid for _, proc in cluster.servers]
        worker = cluster.workers[0]
        print(
            f"{args.servers} server(s) behind nginx at {cluster.url}, pids {server_pids}, "
            f"worker pid {worker.pid}, database {args.database}",
            flush=True,
        )

        def stack_pids():
            return [*server_pids, worker.pid]

        ctx = multiprocessing.get_context("spawn")
        ready, go = ctx.Barrier(procs + 1), ctx.Barrier(procs + 1)
        results = ctx.Queue()
        share = (len(people) + procs - 1) // procs
        gens = []
        for p in range(procs):
            options = (
                urls,
                batch_id,
                config.database_url,
                args.save_interval,
                args.drop,
                args.seed,
                ramp,
            )
            proc = ctx.Process(
                target=generator,
                args=(p, people[p * share : (p + 1) * share], options, ready, go, results),
            )
            proc.start()
            gens.append(proc)
        t = time.monotonic()
        ready.wait(timeout=900)
        print(f"connected {len(people)} sockets in {time.monotonic() - t:.1f} s", flush=True)
        hooks.start(urls)
        deadline = time.time() + ramp + args.duration
        closes = dt.datetime.fromtimestamp(deadline, dt.UTC)
        asyncio.run(set_window_end(config.database_url, batch_id, closes))
        cpu_groups = {
            "servers": server_pids,
            "worker": [worker.pid],
            "load generators": [g.pid for g in gens],
            "redis": [cluster.redis.pid],
        }
        # nginx and PostgreSQL work in child processes: their trees are counted.
        trees = {"nginx": [cluster.nginx.pid]}
        if cluster.pg is not None:
            trees["postgresql"] = [int((cluster.pg.data / "postmaster.pid").read_text().split()[0])]

        def cpu_now() -> dict[str, float]:
            flat = {name: cpu_seconds(pids) for name, pids in cpu_groups.items()}
            return flat | {name: tree_cpu_seconds(pids) for name, pids in trees.items()}

        cpu_before = cpu_now()
        go.wait(timeout=60)
        run_began = time.time()
        if args.metrics:
            # What an operator's Prometheus would see near the end of the exam window.
            scraper = threading.Timer(
                max(0.0, deadline - 3 - time.time()),
                scrape_metrics,
                (cluster.url, Path(args.metrics)),
            )
            scraper.daemon = True
            scraper.start()
        samples: list[float] = []
        time.sleep(max(0.0, run_began + ramp - time.time()))
        cpu_saving = cpu_now()
        print(f"saving phase begins (load {machine_load()})", flush=True)
        load_during = machine_load()
        server_cpu = [cpu_seconds(server_pids)]
        forced = watch_grading(
            reader,
            batch_id,
            deadline,
            stack_pids,
            samples,
            lambda: server_cpu.append(cpu_seconds(server_pids)),
        )
        load_after = machine_load()
        cpu_after = cpu_now()
        cpu_used = {name: cpu_saving[name] - cpu_before[name] for name in cpu_after}
        cpu_saving = {name: cpu_after[name] - cpu_saving[name] for name in cpu_after}
        wall = time.time() - run_began
        collected = [results.get(timeout=300) for _ in gens]
        for proc in gens:
            proc.join(timeout=60)
        latencies = [ms for r in collected for ms in r["latencies"]]
        acks = [a for r in collected for a in r["acks"]]
        errors: dict[str, int] = {}
        for r in collected:
            for code, n in r["errors"].items():
                errors[code] = errors.get(code, 0) + n
        lost, graded, still_open = verify(reader, acks)
        starts = [ms for r in collected for ms in r["start_ms"]]
        joins = [ms for r in collected for ms in r["join_ms"]]
        print(
            f"attempts graded {graded}, still open {still_open}; saves {sum(r['saves'] for r in collected)}; "
            f"drops+reconnects {sum(r['drops'] for r in collected)}; "
            f"'submitted' pushed to {sum(r['submitted_events'] for r in collected)} clients; "
            f"syncs {sum(r['syncs'] for r in collected)}; "
            f"joined after the ramp {sum(r['joined_late'] for r in collected)}; "
            f"ramp: start p99 {percentile(starts, 99):.0f} ms, join p99 {percentile(joins, 99):.0f} ms; "
            f"errors {errors or 'none'}"
        )
        print(
            f"CPU seconds in the {ramp:.0f} s ramp: "
            + ", ".join(f"{name} {secs:.1f}" for name, secs in cpu_used.items())
            + f"; in the {wall - ramp:.0f} s of saving and grading: "
            + ", ".join(f"{name} {secs:.1f}" for name, secs in cpu_saving.items())
        )
        print(
            "acks over 100 ms, by when they were sent (s before the deadline): "
            + slow_acks(collected, deadline)
        )
        print(
            "load generators' own loop stalls over 100 ms (s before the deadline: count, longest ms): "
            + generator_stalls(collected, deadline)
        )
        print(f"machine load (1/5/15 min) at deadline: {load_during} / after grading: {load_after}")
        if args.profile:
            print("per second (acks of saves sent then; per server: point n× p50/max[/p99] ms):")
            for text in profile_windows(profile, collected, run_began + ramp, time.time()):
                print("  " + text)
        rss = max(samples, default=0)
        # Server CPU from the start of the saving phase to the deadline, per acknowledged save.
        server_cpu_ms_per_ack = (server_cpu[-1] - server_cpu[0]) * 1000 / max(1, len(acks))
        line = hooks.finish(
            {
                "latencies": latencies,
                "acked_at": [a for r in collected for a in r["acked_at"]],
                "lost": lost,
                "rss_mb": rss,
                "deadline": deadline,
            }
        )
        print(
            line
            or f"RESULT clients={args.clients} acks={len(acks)} "
            f"p50_ms={percentile(latencies, 50):.1f} p99_ms={percentile(latencies, 99):.1f} "
            f"lost_acks={lost} forced_submit_s={forced:.2f} rss_mb={rss:.0f} "
            f"server_cpu_ms_per_ack={server_cpu_ms_per_ack:.2f}"
        )
    finally:
        if reader is not None:
            reader.close()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
