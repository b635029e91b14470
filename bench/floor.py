"""The floor: the exam benchmark's clients against a bare python-socketio server.

    .venv/bin/python bench/floor.py --clients 3000 --save-interval 5 --duration 60

What ``bench/exam_load.py`` is measured against (``--floor`` runs this first, on the same
machine, with the same clients): python-socketio and uvicorn of the same versions, run with
the servers' uvicorn options (``app.cli.UVICORN_OPTIONS``) and garbage-collector settings
(``app.asgi.tune_gc``), behind the same nginx configuration (``devtools.cluster.nginx_conf``),
and an ``/exam`` namespace whose ``answer`` and ``sync`` handlers acknowledge at once: no
session check, no database, no Redis. N WebSocket clients, split over the same number of
load-generator processes, each send an ``answer`` every S seconds (random phase) for D
seconds and, like the exam's clients (bench/exam_clients.py) and the exam page, a ``sync``
every 30 s (random phase): the floor serves the same traffic, and the CPU per answer of
both counts the syncs in. Whatever the exam costs beyond this is ours. Last line:
``RESULT floor clients=… acks=… p50_ms=… p99_ms=… lost_acks=… server_cpu_ms_per_ack=… rss_mb=…``
(``lost_acks``: answers never acknowledged).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, cpu_seconds, machine_load, percentile, quiet_gc, rss_mb  # noqa: E402
from bench.system import require  # noqa: E402

SYNC_SECONDS = 30.0  # as the exam page re-reads the clock (bench/exam_clients.py)


def asgi():
    """The bare server (a uvicorn factory): acknowledges every ``answer`` at once."""
    import socketio

    from app.asgi import tune_gc

    sio = socketio.AsyncServer(
        async_mode="asgi", ping_interval=25, ping_timeout=20, max_http_buffer_size=64 * 1024
    )

    async def answer(sid, data):
        return {"ok": True, "question_id": data.get("question_id"), "seq": data.get("seq")}

    async def sync(sid, data=None):
        now = int(time.time() * 1000)
        return {"ok": True, "status": "open", "now": now, "deadline": now + 3_600_000}

    sio.on("answer", answer, namespace="/exam")
    sio.on("sync", sync, namespace="/exam")
    sio.on("connect", lambda sid, environ, auth=None: None, namespace="/exam")
    app = socketio.ASGIApp(sio)
    tune_gc()
    return app


def serve(port: int) -> None:
    """The floor's server process."""
    import uvicorn

    from app.cli import UVICORN_OPTIONS

    uvicorn.run("bench.floor:asgi", factory=True, host="127.0.0.1", port=port, **UVICORN_OPTIONS)


def generator(url: str, clients: int, interval: float, seed: int, ready, go, results) -> None:
    """One load-generator process: ``clients`` sockets answering every ``interval`` s."""
    import uvloop

    uvloop.run(_generate(url, clients, interval, seed, ready, go, results))


async def _generate(url, clients, interval, seed, ready, go, results) -> None:
    import socketio

    rng = random.Random(seed)
    gate = asyncio.Semaphore(64)
    sockets: list[socketio.AsyncClient] = []

    async def connect() -> None:
        async with gate:
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(
                url, namespaces=["/exam"], transports=["websocket"], wait_timeout=60
            )
            sockets.append(client)

    await asyncio.gather(*(connect() for _ in range(clients)))
    quiet_gc()
    await asyncio.to_thread(ready.wait)
    until = await asyncio.to_thread(go.get)
    latencies: list[float] = []
    sent_at: list[float] = []
    lost = [0]

    async def resync(client: socketio.AsyncClient) -> None:
        # As the exam's clients do (bench/exam_clients.py): the clock every ~30 s.
        await asyncio.sleep(rng.uniform(0, SYNC_SECONDS))
        while time.time() < until - 1:
            with contextlib.suppress(Exception):
                await client.call("sync", {}, namespace="/exam", timeout=30)
            await asyncio.sleep(SYNC_SECONDS)

    async def answer(client: socketio.AsyncClient) -> None:
        syncing = asyncio.ensure_future(resync(client))
        try:
            await answering(client)
        finally:
            syncing.cancel()

    async def answering(client: socketio.AsyncClient) -> None:
        await asyncio.sleep(rng.uniform(0, interval))
        seq = 0
        while time.time() < until:
            seq += 1
            sent, sent_ms = time.perf_counter(), time.time() * 1000
            try:
                await client.call(
                    "answer",
                    {"question_id": rng.randint(1, 70), "value": "A", "seq": seq},
                    namespace="/exam",
                    timeout=30,
                )
            except Exception:
                lost[0] += 1  # never acknowledged (timed out, or the socket went away)
                if not client.connected:
                    return
            else:
                latencies.append((time.perf_counter() - sent) * 1000)
                sent_at.append(sent_ms)
            await asyncio.sleep(max(0.0, min(interval, until - time.time())))

    await asyncio.gather(*(answer(client) for client in sockets))
    for client in sockets:
        with contextlib.suppress(Exception):
            await client.disconnect()
    results.put({"latencies": latencies, "sent_at": sent_at, "lost": lost[0]})


def run(args: argparse.Namespace, procs: int) -> dict:
    """Start nginx and the bare server, run the clients, stop everything; the figures."""
    from devtools import processes
    from devtools.cluster import Plan, nginx_conf

    nginx = require("nginx")["nginx"]
    workdir = Path(tempfile.mkdtemp(prefix="safece-floor-"))
    port, nginx_port = processes.free_port(), processes.free_port()
    children: list[subprocess.Popen] = []
    try:
        server = processes.spawn(
            [sys.executable, "-m", "bench.floor", "--serve", str(port)], cwd=ROOT
        )
        children.append(server)
        if not processes.wait_for(
            lambda: processes.answers(
                f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
            ),
            children,
            60,
        ):
            raise RuntimeError("the floor server did not start")
        (workdir / "nginx").mkdir()
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_conf(Plan(directory=workdir, port=nginx_port), [port], 1 << 20))
        children.append(
            processes.spawn([nginx, "-e", str(workdir / "nginx/error.log"), "-c", str(conf)])
        )
        url = f"http://127.0.0.1:{nginx_port}"
        if not processes.wait_for(
            lambda: processes.answers(f"{url}/socket.io/?EIO=4&transport=polling"), children, 30
        ):
            raise RuntimeError("nginx did not start in front of the floor server")
        return _drive(args, procs, url, server.pid)
    finally:
        processes.stop(list(reversed(children)))
        shutil.rmtree(workdir, ignore_errors=True)


def _drive(args: argparse.Namespace, procs: int, url: str, server_pid: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Barrier(procs + 1), ctx.Queue()
    go = ctx.Queue()
    share = (args.clients + procs - 1) // procs
    gens = [
        ctx.Process(
            target=generator,
            args=(
                url,
                min(share, args.clients - p * share),
                args.save_interval,
                args.seed + p,
                ready,
                go,
                results,
            ),
        )
        for p in range(procs)
    ]
    for proc in gens:
        proc.start()
    t = time.monotonic()
    ready.wait(timeout=900)
    print(f"floor: connected {args.clients} sockets in {time.monotonic() - t:.1f} s", flush=True)
    until = time.time() + args.duration
    cpu = cpu_seconds([server_pid])
    for _ in gens:
        go.put(until)
    samples = []
    while time.time() < until:
        samples.append(rss_mb([server_pid]))
        time.sleep(0.5)
    cpu = cpu_seconds([server_pid]) - cpu
    collected = [results.get(timeout=300) for _ in gens]
    for proc in gens:
        proc.join(timeout=60)
    latencies = [ms for r in collected for ms in r["latencies"]]
    return {
        "acks": len(latencies),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "lost_acks": sum(r["lost"] for r in collected),
        "server_cpu_ms_per_ack": cpu * 1000 / max(1, len(latencies)),
        "rss_mb": max(samples, default=0.0),
        "load": machine_load(),
    }


def result_line(clients: int, floor: dict) -> str:
    return (
        f"RESULT floor clients={clients} acks={floor['acks']} p50_ms={floor['p50_ms']:.1f} "
        f"p99_ms={floor['p99_ms']:.1f} lost_acks={floor['lost_acks']} "
        f"server_cpu_ms_per_ack={floor['server_cpu_ms_per_ack']:.2f} rss_mb={floor['rss_mb']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--save-interval", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--procs", type=int, default=0, help="load-generator processes")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    procs = args.procs or max(1, min(4, (args.clients + 1499) // 1500))
    print(f"machine load before: {machine_load()}", flush=True)
    floor = run(args, procs)
    print(f"machine load after: {floor['load']}")
    print(result_line(args.clients, floor))


if __name__ == "__main__":
    main()
