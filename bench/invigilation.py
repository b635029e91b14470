"""Invigilation load: the exam benchmark's learners, watched live by K invigilators.

    .venv/bin/python bench/invigilation.py --clients 3000 --invigilators 3

Everything ``bench/exam_load.py`` does (its own stack, N learners autosaving every S
seconds, reconnects, the server submitting every paper at the deadline, the database
check of every acknowledged answer), plus one exam session (考场) holding every learner and
K invigilators assigned to it. The invigilators' dashboards (python-socketio clients on
/proctor, in a process of their own, on the last server) take the snapshot and then every
pushed delta, re-fetching the snapshot on a gap in versions as the page does.

``lag`` runs from the moment a learner sent an answer that the server acknowledged to the
arrival, at an invigilator, of the first update of that learner's row that includes it
(its last activity at or after the send; the clocks are the same machine's), for every
acknowledged answer and every invigilator. ``ack`` is the answer's round trip as in the
exam benchmark. The last line is
``RESULT clients=… invigilators=… ack_p99_ms=… lag_p50_ms=… lag_p99_ms=… lost_acks=… rss_mb=…``.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import exam_load  # noqa: E402
from bench.common import BENCH_PASSWORD, bench_id_number, percentile, quiet_gc  # noqa: E402


class Invigilation(exam_load.Hooks):
    def __init__(self, args) -> None:
        self.args = args
        self.session_id = 0
        self.cookies: list[str] = []

    async def prepare(self, config, batch_id: int) -> None:
        """An exam session of the batch holding everyone, and its invigilators (logged in)."""
        import redis.asyncio as aioredis
        from argon2 import PasswordHasher

        from app.accounts import sessions
        from app.accounts.models import User, UserRole
        from app.clock import utcnow
        from app.db import Database
        from app.exams.models import ExamSession
        from app.invigilation.models import Assignment

        now = utcnow()
        db = Database(config.database_url, pgbouncer=config.pgbouncer)
        cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1).hash(BENCH_PASSWORD)
        async with db.write() as session:
            exam_session = ExamSession(
                batch_id=batch_id,
                name="压测考场",
                starts_at=now - dt.timedelta(hours=1),
                ends_at=now + dt.timedelta(days=1),
                everyone=True,
                created_at=now,
            )
            session.add(exam_session)
            await session.flush()
            staff = []
            for k in range(self.args.invigilators):
                user = User(
                    id_number=bench_id_number(900_000 + k),
                    name=f"压测监考{k + 1}",
                    gender="男",
                    work_unit="压测单位",
                    password_hash=cheap,
                    must_change_password=False,
                    password_issued_at=now,
                    tour_done=True,
                    is_active=True,
                    created_at=now,
                )
                session.add(user)
                await session.flush()
                session.add(UserRole(user_id=user.id, role="invigilator"))
                session.add(
                    Assignment(session_id=exam_session.id, user_id=user.id, assigned_at=now)
                )
                staff.append(user.id)
            self.session_id = exam_session.id
        await db.dispose()
        redis = aioredis.Redis.from_url(config.redis_url, decode_responses=True)
        for user_id in staff:
            s = await sessions.create(redis, user_id=user_id, must_change=False, ttl_seconds=86400)
            self.cookies.append(s.token)
        await redis.aclose()

    def start(self, urls: list[str]) -> None:
        """The dashboards connect and take their snapshots before the learners start."""
        ctx = multiprocessing.get_context("spawn")
        self.ready, self.stop, self.results = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(
            target=watch,
            args=(urls[-1], self.session_id, self.cookies, self.ready, self.stop, self.results),
        )
        self.proc.start()
        if not self.ready.wait(timeout=300):
            raise RuntimeError("the invigilators' dashboards did not connect")

    def finish(self, report: dict) -> str:
        # Updates pushed when the papers close at the deadline arrive a moment later.
        time.sleep(3)
        self.stop.set()
        watched = self.results.get(timeout=300)
        self.proc.join(timeout=60)
        lags, missing = [], 0
        for updates in watched["updates"]:
            for attempt_id, sent_ms in report["acked_at"]:
                seen = updates.get(attempt_id)
                lag = _lag(seen, sent_ms) if seen else None
                if lag is None:
                    missing += 1
                else:
                    lags.append(lag)
        print(
            f"dashboards: {watched['deltas']} deltas ({watched['rows']} rows) per invigilator on "
            f"average, snapshot {watched['snapshot_ms']:.0f} ms for {watched['snapshot_rows']} rows, "
            f"gaps re-fetched {watched['gaps']}; answers never seen by an invigilator {missing}; "
            f"lag p90 {percentile(lags, 90):.0f} ms, max {max(lags, default=0):.0f} ms"
        )
        return (
            f"RESULT clients={self.args.clients} invigilators={self.args.invigilators} "
            f"ack_p99_ms={percentile(report['latencies'], 99):.1f} "
            f"lag_p50_ms={percentile(lags, 50):.1f} lag_p99_ms={percentile(lags, 99):.1f} "
            f"lost_acks={report['lost']} rss_mb={report['rss_mb']:.0f}"
        )


def _lag(seen: tuple[list[float], list[int]], sent_ms: float) -> float | None:
    """From sending an answer to the first update of its row that includes it."""
    arrivals, lasts = seen
    for i in range(bisect.bisect_left(arrivals, sent_ms), len(arrivals)):
        if lasts[i] >= int(sent_ms):
            return arrivals[i] - sent_ms
    return None


def watch(url, session_id, cookies, ready, stop, results) -> None:
    """The invigilators' process."""
    import uvloop

    uvloop.run(_watch(url, session_id, cookies, ready, stop, results))


async def _watch(url, session_id, cookies, ready, stop, results) -> None:
    import socketio

    dashboards = []
    snapshot_ms, snapshot_rows = [], 0

    class Dashboard:
        def __init__(self, cookie: str) -> None:
            self.client = socketio.AsyncClient(reconnection=False)
            self.cookie = cookie
            self.version = 0
            self.deltas = self.rows = self.gaps = 0
            self.updates: dict[int, tuple[list[float], list[int]]] = {}
            self.client.on("rows", self.on_rows, namespace="/proctor")

        async def snapshot(self) -> None:
            nonlocal snapshot_rows
            t = time.perf_counter()
            snap = await self.client.call("snapshot", {}, namespace="/proctor", timeout=120)
            snapshot_ms.append((time.perf_counter() - t) * 1000)
            snapshot_rows = len(snap["rows"])
            self.version = snap["version"]

        async def on_rows(self, delta: dict) -> None:
            arrived = time.time() * 1000
            if delta["version"] <= self.version:
                return
            if delta["version"] != self.version + 1:
                self.gaps += 1
                await self.snapshot()
                return
            self.version = delta["version"]
            self.deltas += 1
            self.rows += len(delta["rows"])
            for row in delta["rows"]:
                if row.get("aid") and row.get("last"):
                    arrivals, lasts = self.updates.setdefault(row["aid"], ([], []))
                    arrivals.append(arrived)
                    lasts.append(row["last"])

    for cookie in cookies:
        dashboard = Dashboard(cookie)
        await dashboard.client.connect(
            url,
            headers={"Cookie": f"safece_session={cookie}"},
            namespaces=["/proctor"],
            transports=["websocket"],
            auth={"session_id": session_id},
            wait_timeout=60,
        )
        await dashboard.snapshot()
        dashboards.append(dashboard)
    quiet_gc()
    ready.set()
    await asyncio.to_thread(stop.wait)
    for dashboard in dashboards:
        await dashboard.client.disconnect()
    n = len(dashboards)
    results.put(
        {
            "updates": [d.updates for d in dashboards],
            "deltas": sum(d.deltas for d in dashboards) // n,
            "rows": sum(d.rows for d in dashboards) // n,
            "gaps": sum(d.gaps for d in dashboards),
            "snapshot_ms": max(snapshot_ms),
            "snapshot_rows": snapshot_rows,
        }
    )


def main() -> None:
    parser = exam_load.parser()
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--invigilators", type=int, default=3)
    args = parser.parse_args()
    exam_load.run(args, Invigilation(args))


if __name__ == "__main__":
    main()
