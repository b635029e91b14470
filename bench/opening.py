"""Server CPU per operation of an exam's opening and autosaving: what a busy machine
cannot distort (it slows a server down, but does not make it do more work).

    .venv/bin/python bench/opening.py --learners 600
    .venv/bin/python bench/opening.py --learners 600 --database postgresql --servers 2

It starts the cluster of ``bench/exam_load.py`` (devtools/cluster.py: Redis, the database,
``--servers`` server processes behind nginx, one worker) with the same batch, bank and
learners, then drives them from this process in phases, one after the other:

- ``connect``: every learner opens its /exam socket (the handshake checks the session);
- ``start``: every learner starts its attempt (POST /api/exams/<batch>/start),
  ``--concurrency`` at a time;
- ``join``: every learner joins its paper on the socket, as many at a time;
- ``ack``: for ``--duration`` seconds every learner autosaves one answer every
  ``--interval`` seconds (random phase), as the exam page does.

For each phase the server processes' CPU time (user + system, from /proc) is divided by
the operations done. ``--session`` puts every learner in an exam session (考场), so that
what invigilators would see is kept up to date too. ``--spy DIR`` records each phase of
the first server with py-spy (``pip install py-spy``; not a dependency of the product)
into ``DIR/<phase>.txt`` (collapsed stacks: ``bench/opening.py --top DIR/ack.txt``
prints where the time went). Every acknowledged answer is checked in the database.
Last line:
``RESULT learners=… cpu_ms_per_connect=… cpu_ms_per_start=… cpu_ms_per_join=… cpu_ms_per_ack=… acks=… lost_acks=…``
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import cpu_seconds, machine_load, percentile  # noqa: E402
from bench.system import require  # noqa: E402

PHASES = ("connect", "start", "join", "ack")  # the RESULT's; "idle" is printed too


class Spy:
    """py-spy recording one server process, one file per phase (or nothing)."""

    def __init__(self, directory: str, pid: int) -> None:
        self.directory = Path(directory) if directory else None
        self.pid = pid
        self.proc: subprocess.Popen | None = None
        if self.directory:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    def begin(self, phase: str) -> None:
        if self.directory:
            out = self.directory / f"{phase}.txt"
            command = [self.binary, "record", "--pid", str(self.pid), "--rate", "200"]
            command += ["--format", "raw", "--gil", "--nonblocking", "--output", str(out)]
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            time.sleep(1)  # py-spy attaches

    def end(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
            self.proc = None


class Meter:
    """Server CPU seconds and wall time per phase."""

    def __init__(self, pids: list[int], spy: Spy) -> None:
        self.pids = pids
        self.spy = spy
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.count: dict[str, int] = {}

    async def measure(self, phase: str, work) -> None:
        self.spy.begin(phase)
        await asyncio.sleep(0.5)  # what the previous phase left in flight settles
        cpu, wall = cpu_seconds(self.pids), time.monotonic()
        self.count[phase] = await work()
        self.wall[phase] = time.monotonic() - wall
        self.cpu[phase] = cpu_seconds(self.pids) - cpu
        self.spy.end()
        per = self.cpu[phase] * 1000 / max(1, self.count[phase])
        print(
            f"{phase}: {self.count[phase]} in {self.wall[phase]:.1f} s, server CPU "
            f"{self.cpu[phase]:.2f} s = {per:.2f} ms each (load {machine_load()})",
            flush=True,
        )

    def per(self, phase: str) -> float:
        return self.cpu.get(phase, 0.0) * 1000 / max(1, self.count.get(phase, 0))


async def drive(args, url: str, batch_id: int, people: list[dict], meter: Meter, reader) -> dict:
    """The four phases; returns the acks and the latencies."""
    import aiohttp
    import socketio

    from bench.common import quiet_gc

    rng = random.Random(args.seed)
    gate = asyncio.Semaphore(args.concurrency)
    clients: list[socketio.AsyncClient] = [None] * len(people)
    attempts: list[int] = [0] * len(people)
    papers: list[list[tuple[int, str, int]]] = [[]] * len(people)
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    errors: collections.Counter = collections.Counter()
    acks: list[tuple[int, int, int, str]] = []

    async def timed(phase: str, call) -> object:
        async with gate:
            t = time.perf_counter()
            try:
                return await call()
            finally:
                latencies[phase].append((time.perf_counter() - t) * 1000)

    async def connect(n: int) -> None:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            url,
            headers={"Cookie": f"safece_session={people[n]['cookie']}"},
            namespaces=["/exam"],
            transports=["websocket"],
            wait_timeout=60,
        )
        clients[n] = client

    async def start(http, n: int) -> None:
        headers = {
            "Cookie": f"safece_session={people[n]['cookie']}",
            "X-CSRF-Token": people[n]["csrf"],
            "Accept": "application/json",
        }
        async with http.post(f"{url}/api/exams/{batch_id}/start", json={}, headers=headers) as r:
            body = await r.json()
        if "attempt_id" not in body:
            errors[f"start:{body.get('code')}"] += 1
            return
        attempts[n] = body["attempt_id"]

    async def join(n: int) -> None:
        reply = await clients[n].call(
            "join",
            {"attempt_id": attempts[n], "tab": f"bench-tab-{n:06d}"},
            namespace="/exam",
            timeout=60,
        )
        if not reply.get("ok"):
            errors[f"join:{reply.get('code')}"] += 1
            attempts[n] = 0

    async def sit(n: int, until: float) -> None:
        await asyncio.sleep(rng.uniform(0, args.interval))
        seq = 0
        while time.time() < until:
            qid, qtype, options = rng.choice(papers[n])
            letters = "TF" if qtype == "judge" else "ABCDEFGH"[:options]
            value = rng.choice(letters)
            seq += 1
            t = time.perf_counter()
            try:
                reply = await clients[n].call(
                    "answer",
                    {"question_id": qid, "value": value, "seq": seq},
                    namespace="/exam",
                    timeout=30,
                )
            except Exception as error:
                errors[type(error).__name__] += 1
            else:
                latencies["ack"].append((time.perf_counter() - t) * 1000)
                if reply.get("ok"):
                    acks.append((attempts[n], qid, seq, value))
                else:
                    errors[f"answer:{reply.get('code')}"] += 1
            await asyncio.sleep(args.interval)

    async def each(phase: str, fn, *extra) -> int:
        await asyncio.gather(*(timed(phase, lambda n=n: fn(*extra, n)) for n in range(len(people))))
        return len(people)

    await meter.measure("connect", lambda: each("connect", connect))
    quiet_gc()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        await meter.measure("start", lambda: each("start", start, http))
    await meter.measure("join", lambda: each("join", join))
    import json

    for n, attempt_id in enumerate(attempts):
        if attempt_id:
            [(raw,)] = reader.rows("SELECT paper FROM exam_attempts WHERE id = ?", attempt_id)
            papers[n] = [(int(q), t, len(order)) for q, (t, order) in json.loads(raw).items()]

    async def saving() -> int:
        until = time.time() + args.duration
        await asyncio.gather(*(sit(n, until) for n in range(len(people)) if attempts[n]))
        return len(acks)

    async def idle() -> int:
        await asyncio.sleep(args.idle)
        return round(args.idle)

    # What the servers spend per second with every learner connected and silent (pings,
    # presence beats, session sweeps): a share of every other phase's figure.
    await meter.measure("idle", idle)
    await meter.measure("ack", saving)
    for client in clients:
        if client is not None:
            await client.disconnect()
    return {"acks": acks, "latencies": latencies, "errors": errors}


def lost_acks(reader, acks: list[tuple[int, int, int, str]]) -> int:
    """Acknowledged answers the database does not hold (at that seq or a newer one)."""
    latest: dict[tuple[int, int], int] = {}
    for attempt_id, qid, seq, _ in acks:
        latest[(attempt_id, qid)] = max(seq, latest.get((attempt_id, qid), 0))
    stored = {
        (a, q): s
        for a, q, s in reader.rows("SELECT attempt_id, question_id, seq FROM exam_answers")
    }
    return sum(1 for key, seq in latest.items() if stored.get(key, -1) < seq)


def run(args: argparse.Namespace) -> str:
    """Start the stack, drive the phases, stop everything; the RESULT line."""
    from app import migrate
    from app.lib import crypto
    from bench import exam_load
    from bench.exam_clients import Reader
    from devtools.cluster import Cluster, Plan
    from devtools.processes import free_port

    workdir = Path(tempfile.mkdtemp(prefix="safece-opening-"))
    plan = Plan(
        directory=workdir,
        servers=args.servers,
        workers=1,
        port=args.port or free_port(),
        database=args.database,
    )
    cluster = Cluster(plan)
    reader = None
    try:
        print(f"machine load before: {machine_load()}", flush=True)
        config = cluster.start_stores()
        migrate.upgrade(config.database_url)
        crypto.install(config)
        batch_id, people = asyncio.run(exam_load.setup_data(config, args.learners))
        if args.session:
            from bench.invigilation import Invigilation

            asyncio.run(Invigilation(argparse.Namespace(invigilators=1)).prepare(config, batch_id))
        cluster.start_processes()
        reader = Reader(config.database_url)
        pids = [proc.pid for _, proc in cluster.servers]
        print(f"{args.servers} server(s) at {cluster.url}, pids {pids}", flush=True)
        meter = Meter(pids, Spy(args.spy, pids[0]))
        import uvloop

        outcome = uvloop.run(drive(args, cluster.url, batch_id, people, meter, reader))
        lost = lost_acks(reader, outcome["acks"])
        for phase in PHASES:
            ms = outcome["latencies"].get(phase, [])
            print(f"{phase} wall p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms")
        print(f"errors: {dict(outcome['errors']) or 'none'}; machine load after: {machine_load()}")
        return (
            f"RESULT learners={args.learners} "
            + " ".join(f"cpu_ms_per_{phase}={meter.per(phase):.2f}" for phase in PHASES)
            + f" acks={len(outcome['acks'])} lost_acks={lost}"
        )
    finally:
        if reader is not None:
            reader.close()
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def top(path: str, count: int = 40) -> None:
    """Where a py-spy raw recording's samples went: own and inclusive, per function."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        total += int(n)
        own[frames[-1]] += int(n)
        for frame in set(frames):
            inclusive[frame] += int(n)
    for title, counter in (("own", own), ("inclusive", inclusive)):
        print(f"-- {title} ({total} samples)")
        for frame, n in counter.most_common(count):
            print(f"{100 * n / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16, help="starts/joins at a time")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between saves")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of autosaving")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of silence measured")
    parser.add_argument("--session", action="store_true", help="learners sit in an exam session")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--port", type=int, default=0, help="nginx's port (default: a free one)")
    parser.add_argument("--spy", default="", help="record each phase with py-spy into this dir")
    parser.add_argument("--top", default="", help="summarise a py-spy raw recording and stop")
    args = parser.parse_args()
    if args.top:
        top(args.top)
        return
    require("redis-server", "nginx", *(["pg_ctl"] if args.database == "postgresql" else []))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(run(args))


if __name__ == "__main__":
    main()
