"""What /metrics reports (the Prometheus text format, ``prometheus-client``).

Every metric of the system is declared here, once. Server and worker processes record into
them; ``render`` writes them out, with the figures a scrape reads from the shared stores
(``app/core/monitoring.py``: certificate states, queue depths, Redis's round trip).

**Several processes.** With ``PROMETHEUS_MULTIPROC_DIR`` set (``make run`` and ``make
cluster`` set it; a deployment sets it for every unit of a machine, see
docs/deployment.md) each process writes its figures to memory-mapped files in that
directory and whichever process answers /metrics adds them all up: counters and histograms
summed, the socket and connection gauges summed over the processes still running (a killed
process's are dropped at the next scrape). The variable must be set before the process
starts: ``prometheus_client`` reads it when first imported. Without it (a lone ``serve``,
the tests) each process reports its own figures.

**Cost.** The exam's autosave path observes two histograms per acknowledged save (through
``app.lib.profiling`` points), each a couple of writes to a memory map; nothing else on that
path allocates.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as mp
from prometheus_client.core import GaugeMetricFamily

from app.lib import profiling

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    Path(MULTIPROCESS_DIR).mkdir(parents=True, exist_ok=True)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# This process's metrics (single-process mode); in multiprocess mode the files are read.
REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SOCKETS = Gauge(
    "safece_sockets_connected",
    "Socket.IO connections open now, by namespace",
    ["namespace"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
EXAM_ACK = Histogram(
    "safece_exam_ack_seconds",
    "An exam answer from its event's arrival to its acknowledgement (after the commit)",
    registry=REGISTRY,
    buckets=LATENCY,
)
COMMIT_SIZE = Histogram(
    "safece_exam_commit_saves",
    "Answers stored by one autosave group commit",
    registry=REGISTRY,
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
)
COMMIT_HOLD = Histogram(
    "safece_exam_commit_seconds",
    "One autosave group commit, BEGIN to COMMIT",
    registry=REGISTRY,
    buckets=LATENCY,
)
COMMIT_WAIT = Histogram(
    "safece_exam_commit_wait_seconds",
    "An autosave group commit waiting for the database write turn (SQLite)",
    registry=REGISTRY,
    buckets=LATENCY,
)
LOOP_LAG = Histogram(
    "safece_event_loop_lag_seconds",
    "How late a 100 ms timer of a server or worker event loop fired",
    ["process"],
    registry=REGISTRY,
    buckets=LATENCY,
)
DB_IN_USE = Gauge(
    "safece_db_connections_in_use",
    "Database connections checked out of the pools now",
    ["process"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
DB_CAPACITY = Gauge(
    "safece_db_connections_max",
    "Database connections the pools may open (pool size plus overflow)",
    ["process"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
REDIS_RTT = Histogram(
    "safece_redis_round_trip_seconds",
    "A Redis round trip (each process's liveness heartbeat, every 3 s)",
    ["process"],
    registry=REGISTRY,
    buckets=LATENCY,
)
JOBS = Counter(
    "safece_jobs",
    "Worker jobs finished, by job and outcome (complete, failed, retry, cancelled)",
    ["job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "safece_job_seconds",
    "How long a worker job ran",
    ["job"],
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
)
LOGINS = Counter(
    "safece_logins",
    "Login attempts, by outcome: ok, or the reason for the refusal",
    ["outcome"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "safece_http_requests",
    "HTTP requests answered, by route (the URL rule), method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "safece_http_request_seconds",
    "HTTP requests from the start of the app's work to the response",
    registry=REGISTRY,
    buckets=LATENCY,
)

# profiling point -> (histogram, factor to its unit)
_POINTS = {
    "answer": (EXAM_ACK, 0.001),
    "commit.size": (COMMIT_SIZE, 1.0),
    "commit.hold": (COMMIT_HOLD, 0.001),
    "commit.wait": (COMMIT_WAIT, 0.001),
}


class Recorder:
    """Listens to the profiling points of one process and records them (see ``_POINTS``);
    samples the event loop's lag and the database pools while started."""

    LAG_EVERY = 0.1
    POOL_EVERY = 1.0

    def __init__(self, process: str, databases: list) -> None:
        self.process = process
        self.databases = databases  # app.db.Database objects
        self._lag = profiling.LoopLag(self.LAG_EVERY)
        self._lag_histogram = LOOP_LAG.labels(process)
        self._in_use = DB_IN_USE.labels(process)
        self._capacity = DB_CAPACITY.labels(process)
        self._unlisten = None
        self._pools = None

    def hear(self, point: str, value: float) -> None:
        found = _POINTS.get(point)
        if found is not None:
            found[0].observe(value * found[1])
        elif point == "loop.lag":
            self._lag_histogram.observe(value / 1000)

    def sample_pools(self) -> None:
        """The connections checked out of this process's pools now, and their capacity."""
        in_use = 0
        for database in self.databases:
            with contextlib.suppress(AttributeError):  # a pool without counts (NullPool)
                in_use += database.engine.pool.checkedout()
        self._in_use.set(in_use)
        self._capacity.set(sum(database.max_connections for database in self.databases))

    def start(self) -> None:
        self._unlisten = profiling.listen(self.hear)
        self._lag.start()
        self._pools = asyncio.get_running_loop().create_task(self._sampling())

    async def _sampling(self) -> None:
        while True:
            self.sample_pools()
            await asyncio.sleep(self.POOL_EVERY)

    async def stop(self) -> None:
        await self._lag.stop()
        if self._pools is not None:
            self._pools.cancel()
            with contextlib.suppress(BaseException):
                await self._pools
        if self._unlisten is not None:
            self._unlisten()
        self._in_use.set(0)
        self._capacity.set(0)


@contextlib.contextmanager
def timed_redis(process: str):
    """Observe a Redis round trip of this process."""
    began = time.perf_counter()
    yield
    REDIS_RTT.labels(process).observe(time.perf_counter() - began)


_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db$")


def forget_dead_processes(directory: str = MULTIPROCESS_DIR) -> None:
    """Drop the live gauges of processes of this machine that are gone (killed: a clean
    stop drops its own), so that their sockets and connections no longer count."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        match = _LIVE_FILE.search(path)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mp.mark_process_dead(pid, directory)
        except PermissionError:
            pass  # another user's process: alive


def process_stopped() -> None:
    """This process stops: its live gauges stop counting at once."""
    if MULTIPROCESS_DIR:
        mp.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)


class _Families:
    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):
        return self.families


def gauge(name: str, documentation: str, label: str, values: dict[str, float]):
    """A gauge family read at scrape time (one sample per label value)."""
    family = GaugeMetricFamily(name, documentation, labels=[label] if label else [])
    for key, value in values.items():
        family.add_metric([key] if label else [], value)
    return family


def render(extra: list) -> bytes:
    """The text exposition: every process's metrics (added up in multiprocess mode) and
    the ``extra`` families read at scrape time."""
    if MULTIPROCESS_DIR:
        forget_dead_processes()
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry, MULTIPROCESS_DIR)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    scraped = CollectorRegistry()
    scraped.register(_Families(extra))
    return text + generate_latest(scraped)
