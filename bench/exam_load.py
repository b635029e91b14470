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

``--floor`` first runs the same clients against a bare python-socketio server on the same
machine (bench/floor.py) and adds its figures and the exam's ratios to them to the RESULT:
``… floor_p99_ms=… floor_cpu_ms_per_ack=… floor_rss_mb=… p99_ratio=… cpu_ratio=… rss_ratio=…``
(``rss_ratio``: the servers and the worker against the one bare server). ``--profile``
prints each second of the servers' profile (SAFECE_PROFILE) beside that second's acks.

    .venv/bin/python bench/exam_load.py --clients 3000 --save-interval 5 --duration 120 --floor
    .venv/bin/python bench/exam_load.py --clients 1000 --servers 2 --database postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import floor as bare  # noqa: E402
from bench.common import cpu_seconds as tree_cpu_seconds  # noqa: E402
from bench.common import create_learners, machine_load, percentile  # noqa: E402
from bench.exam_clients import Reader, generator  # noqa: E402
from bench.exam_report import (  # noqa: E402
    cpu_seconds,
    generator_stalls,
    profile_windows,
    slow_acks,
    verify,
    watch_grading,
)
from bench.system import require  # noqa: E402


async def setup_data(config, clients: int) -> tuple[int, list[dict]]:
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
    db = Database(config.database_url, pgbouncer=config.pgbouncer)
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
    redis = aioredis.Redis.from_url(config.redis_url, decode_responses=True)
    people = []
    for number in numbers:
        s = await sessions.create(redis, user_id=ids[number], must_change=False, ttl_seconds=86400)
        people.append({"cookie": s.token, "csrf": s.csrf})
    await redis.aclose()
    return batch_id, people


async def set_window_end(config, batch_id: int, closes: dt.datetime) -> None:
    """What an administrator does: the exam window closes at this instant."""
    from sqlalchemy import update

    from app.db import Database
    from app.learning.models import Batch

    db = Database(config.database_url, pgbouncer=config.pgbouncer)
    async with db.write() as session:
        await session.execute(
            update(Batch).where(Batch.id == batch_id).values(exam_closes_at=closes)
        )
    await db.dispose()


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
    parser.add_argument(
        "--pooler", choices=["", "pgbouncer"], default="", help="PgBouncer before PostgreSQL"
    )
    parser.add_argument("--procs", type=int, default=0, help="load-generator processes")
    parser.add_argument("--drop", type=float, default=0.05, help="share of clients that reconnect")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="servers report each second (SAFECE_PROFILE) and the run prints it",
    )
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="seconds for starting attempts (default N/20)"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="first run the same clients against a bare python-socketio server (bench/floor.py)",
    )
    parser.add_argument("--port", type=int, default=0, help="nginx's port (default: a free one)")
    parser.add_argument(
        "--metrics", default="", help="write /metrics, scraped 3 s before the deadline, here"
    )
    return parser


def main() -> None:
    # A SIGTERM (timeout, kill) stops the cluster too, through exam()'s `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    run(parser().parse_args())


def run(args: argparse.Namespace, hooks: Hooks | None = None) -> None:
    """With ``--floor`` the bare server first, then the exam; the results, RESULT last."""
    needed = ["pg_ctl"] if args.database == "postgresql" else []
    require("redis-server", "nginx", *needed, *([args.pooler] if args.pooler else []))
    procs = args.procs or max(1, min(4, (args.clients + 1499) // 1500))
    floor = None
    if args.floor:
        print(f"== the floor: {bare.__doc__.splitlines()[0]}", flush=True)
        floor = bare.run(args, procs)
        print(bare.result_line(args.clients, floor), flush=True)
        print(f"== the exam (machine load {machine_load()})", flush=True)
    report, line = exam(args, hooks or Hooks(), procs)
    print(line or result_line(args, report, floor))


def result_line(args: argparse.Namespace, report: dict, floor: dict | None) -> str:
    """The exam's RESULT line; with the floor, its figures and the exam's ratios to them."""
    line = (
        f"RESULT clients={args.clients} acks={report['acks']} "
        f"p50_ms={report['p50_ms']:.1f} p99_ms={report['p99_ms']:.1f} "
        f"lost_acks={report['lost']} forced_submit_s={report['forced_submit_s']:.2f} "
        f"rss_mb={report['rss_mb']:.0f} "
        f"server_cpu_ms_per_ack={report['server_cpu_ms_per_ack']:.2f}"
    )
    if floor is None:
        return line
    return (
        f"{line} floor_p99_ms={floor['p99_ms']:.1f} "
        f"floor_cpu_ms_per_ack={floor['server_cpu_ms_per_ack']:.2f} "
        f"floor_rss_mb={floor['rss_mb']:.0f} "
        f"p99_ratio={report['p99_ms'] / max(floor['p99_ms'], 0.1):.2f} "
        f"cpu_ratio={report['server_cpu_ms_per_ack'] / max(floor['server_cpu_ms_per_ack'], 0.01):.2f} "
        f"rss_ratio={report['rss_mb'] / max(floor['rss_mb'], 1):.2f}"
    )


def exam(args: argparse.Namespace, hooks: Hooks, procs: int) -> tuple[dict, str | None]:
    """Start the stack, run the exam, check the database: the figures, and the RESULT line
    the hooks print instead of this benchmark's (or None)."""
    ramp = args.ramp or max(5.0, args.clients / 20)

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
        pooler=args.pooler,
    )
    cluster = Cluster(plan)
    reader: Reader | None = None
    try:
        print(f"machine load before: {machine_load()}", flush=True)
        config = cluster.start_stores()
        migrate.upgrade(config.database_url)
        crypto.install(config)  # the servers' key file: seeding encrypts with it too
        t = time.monotonic()
        batch_id, people = asyncio.run(setup_data(config, args.clients))
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
        asyncio.run(set_window_end(config, batch_id, closes))
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
        if cluster.pgbouncer is not None:
            cpu_groups["pgbouncer"] = [cluster.pgbouncer.pid]

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
        # Server CPU from the start of the saving phase to the deadline, per acknowledged save.
        report = {
            "latencies": latencies,
            "acked_at": [a for r in collected for a in r["acked_at"]],
            "acks": len(acks),
            "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99),
            "lost": lost,
            "forced_submit_s": forced,
            "rss_mb": max(samples, default=0),
            "server_cpu_ms_per_ack": (server_cpu[-1] - server_cpu[0]) * 1000 / max(1, len(acks)),
            "deadline": deadline,
            "start_p99_ms": percentile(starts, 99),
            "join_p99_ms": percentile(joins, 99),
        }
        return report, hooks.finish(report)
    finally:
        if reader is not None:
            reader.close()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
