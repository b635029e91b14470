"""Measurement points shared by whoever listens: /metrics always (``app/lib/metrics.py``
turns points into Prometheus histograms), and the per-second ``Profile`` below when a
server process starts with ``SAFECE_PROFILE`` set.

The code on the paths that matter reports what it measured with ``observe(point, value)``;
that costs a function call and a loop over the listeners (``listen``), nothing more.
``SAFECE_PROFILE=1`` logs one line a second (logger ``safece.profile``); a path ending in
``.jsonl`` appends one JSON object a second there (every process of a cluster may share
the file: each line carries its pid), which ``bench/exam_load.py --profile`` reads.

Points (milliseconds unless noted):

- ``loop.lag``: how late a 10 ms timer of the event loop fired (``LoopLag``);
- ``gc.0`` / ``gc.1`` / ``gc.2``: a garbage collection's pause, by generation;
- ``commit.queue``: how long the oldest save of an autosave batch had waited when its
  group commit began; ``commit.wait``: that commit waiting for the write turn;
  ``commit.hold``: the commit itself (its SQL, BEGIN to COMMIT); ``commit.size``: saves
  in it (a count);
- ``write.wait`` / ``write.hold``: the same for every other write transaction;
- ``read.hold``: a read transaction, from its start to its end (on SQLite it holds a
  snapshot of the write-ahead log all along, and the log cannot restart meanwhile);
- ``commit.end``: the autosave's COMMIT statement alone (on SQLite a commit that
  makes the write-ahead log pass 1,000 pages also runs a checkpoint there);
- ``checkpoint``: a WAL checkpoint (SQLite); ``checkpoint.frames``: pages it copied;
- ``answer``: an ``answer`` event from its handler's start to its acknowledgement.

Each second's line gives, per point, the count, median and maximum (a point with many
samples also its 99th percentile), the process's CPU use in that second and, on SQLite,
the size of the write-ahead log (``wal_mb``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger("safece.profile")

Sink = Callable[[str, float], None]
_sinks: list[Sink] = []


def observe(point: str, value: float) -> None:
    """Report one measurement at a named point (see the module docstring)."""
    for sink in _sinks:
        sink(point, value)


def listening() -> bool:
    """Whether anything listens: code may skip measuring what nobody would hear."""
    return bool(_sinks)


def listen(sink: Sink) -> Callable[[], None]:
    """Hear every measurement from now on; returns the call that stops it."""
    _sinks.append(sink)
    return lambda: _sinks.remove(sink) if sink in _sinks else None


@contextlib.contextmanager
def timed(point: str):
    """Observe how long the block took, in milliseconds."""
    began = time.perf_counter()
    try:
        yield
    finally:
        observe(point, (time.perf_counter() - began) * 1000)


class LoopLag:
    """Observes ``loop.lag``: a timer set for every ``every`` seconds, and how late each
    firing came. A loop busy with one long callback (a collection, a slow statement,
    a big JSON document) shows here as one late firing of that length."""

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await asyncio.sleep(self.every)
            observe("loop.lag", max(0.0, (loop.time() - began - self.every) * 1000))


class GcPauses:
    """Observes ``gc.<generation>``: each garbage collection's pause."""

    def __init__(self) -> None:
        self._began = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            observe(f"gc.{info['generation']}", (time.perf_counter() - self._began) * 1000)

    def start(self) -> None:
        gc.callbacks.append(self._callback)

    def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._callback)


def wal_mb(database: str | os.PathLike) -> float:
    """The size of a SQLite database's write-ahead log, in MB (0 when there is none).

    Only ``stat``: opening and closing the -wal or -shm file in a process that has the
    database open would drop every POSIX lock SQLite's connections of that process hold
    on it (closing any descriptor of a file does), and other connections would then
    checkpoint over pages a reader still uses: a corrupt database. (It happened.) How far
    checkpoints got comes from the checkpointer itself (``checkpoint`` points)."""
    try:
        return round(os.stat(f"{database}-wal").st_size / 2**20, 1)
    except OSError:
        return 0.0


def summary(values: list[float]) -> dict[str, float]:
    """Count, median, maximum (and the 99th percentile of 100 samples or more)."""
    ordered = sorted(values)
    n = len(ordered)
    out = {"n": n, "p50": round(ordered[n // 2], 2), "max": round(ordered[-1], 2)}
    if n >= 100:
        out["p99"] = round(ordered[min(n - 1, int(n * 0.99))], 2)
    return out


class Profile:
    """Listens to every point and reports each second (see the module docstring)."""

    def __init__(self, target: str, database: str | None = None) -> None:
        self.target = target
        self.database = database  # a SQLite file whose WAL to watch, if any
        self._window: dict[str, list[float]] = {}
        self._task: asyncio.Task | None = None
        self._lag = LoopLag()
        self._gc = GcPauses()
        self._unlisten: Callable[[], None] | None = None

    def _hear(self, point: str, value: float) -> None:
        self._window.setdefault(point, []).append(value)

    def start(self) -> None:
        self._unlisten = listen(self._hear)
        self._lag.start()
        self._gc.start()
        self._task = asyncio.get_running_loop().create_task(self._report())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._lag.stop()
        self._gc.stop()
        if self._unlisten is not None:
            self._unlisten()

    def take(self, cpu_s: float, wall_s: float) -> dict:
        """This window's figures, and a fresh window."""
        window, self._window = self._window, {}
        line: dict = {"t": round(time.time(), 3), "pid": os.getpid()}
        line["cpu"] = round(100 * cpu_s / wall_s) if wall_s > 0 else 0
        line.update((point, summary(values)) for point, values in sorted(window.items()))
        if self.database:
            line["wal_mb"] = wal_mb(self.database)
        return line

    async def _report(self) -> None:
        loop = asyncio.get_running_loop()
        cpu, wall = time.process_time(), loop.time()
        while True:
            # Aligned on whole seconds, so that processes' lines (and the benchmark's
            # per-second acknowledgements) fall into the same windows.
            await asyncio.sleep(1 - time.time() % 1)
            line = self.take(time.process_time() - cpu, loop.time() - wall)
            cpu, wall = time.process_time(), loop.time()
            self._write(line)

    def _write(self, line: dict) -> None:
        if self.target.endswith(".jsonl"):
            # One write per line: lines from several processes interleave whole.
            with open(self.target, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
        else:
            log.info("%s", text(line))


def text(line: dict) -> str:
    """One window as a line a person reads."""
    parts = [time.strftime("%H:%M:%S", time.localtime(line["t"])), f"cpu {line['cpu']}%"]
    for point, figures in line.items():
        if isinstance(figures, dict) and "n" in figures:
            tail = f" p99 {figures['p99']}" if "p99" in figures else ""
            parts.append(f"{point} {figures['n']}× p50 {figures['p50']} max {figures['max']}{tail}")
    if "wal_mb" in line:
        parts.append(f"wal {line['wal_mb']} MB")
    return " | ".join(parts)
