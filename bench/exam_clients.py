"""The exam benchmark's load generators: learners that start, join, autosave, re-sync,
drop and reconnect like the exam page does (bench/exam_load.py runs them in processes)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sqlite3
import threading
import time

from bench.common import quiet_gc

LETTERS = "ABCDEFGH"


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
                    user=url.username,
                    database=url.database,
                    host=url.query.get("host"),
                    port=url.query.get("port"),
                    # Also through PgBouncer (transaction mode): no statement outlives its
                    # transaction.
                    statement_cache_size=0,
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
