"""Group commit of autosaves: one writer per process, one transaction for many saves.

At 3,000 learners saving every few seconds, one transaction per save queues up behind
SQLite's single write lock. Instead every save joins a queue; a writer task takes
everything queued, stores it in one transaction, and only after that commit answers each
waiting caller. Saves that arrive while a commit runs go into the next one; under steady
load the next commit also lingers a few milliseconds so that batches grow, while after a
quiet spell a save is committed at once.

On SQLite the batch goes straight through the sqlite3 module (see SqliteBatch), on the
event loop: through aiosqlite's thread the same transaction took a dozen thread switches,
each waiting for the GIL (up to the 5 ms switch interval) while the loop is busy with
thousands of sockets, which made a 2 ms transaction last 100 ms and more under load (the
other writers now avoid that too: app/lib/sqlite_writes.py); it also waits for another
process's lock only LOCK_WAIT_SECONDS, not the usual 30 s. On PostgreSQL it goes straight
through asyncpg on a connection of the pool that it keeps while saves keep coming (see
PgBatch): through a session of the unit of work it cost twice the CPU per answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Callable

import asyncpg.exceptions
import sqlalchemy.exc
from sqlalchemy import bindparam
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import SQLITE_PRAGMAS, Database
from app.errors import AppError
from app.exams import answers
from app.exams.answers import Save
from app.exams.models import Answer, Attempt
from app.lib import profiling, sqlite_writes

log = logging.getLogger("safece.exams.autosave")

MAX_BATCH = 2000
BUSY_WITHIN_SECONDS = 0.1  # "steady load": the previous commit ended this recently
LOG_EVERY_SECONDS = 10
BUSY = AppError("busy", "系统繁忙，答案暂未保存，将自动重试", 503)
# How long a batch waits for a database another process holds before its saves answer
# ``busy``: the page keeps them and sends them again (every 5 s), so a long outage costs
# retries, not a queue of saves hanging for half a minute each.
LOCK_WAIT_SECONDS = 2.0


def unavailable(error: BaseException) -> bool:
    """Whether an error means the database cannot be written just now (locked, down)."""
    if isinstance(error, sqlite3.OperationalError):
        return sqlite_writes.busy(error)
    down = (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        # PgBatch talks to asyncpg itself: a lost connection, a server shutting down.
        asyncpg.exceptions.InterfaceError,
        asyncpg.exceptions.PostgresConnectionError,
        asyncpg.exceptions.OperatorInterventionError,
        OSError,
        TimeoutError,
    )
    return isinstance(error, down)


class AnswerWriter:
    """Commits autosaves in batches and tells each caller its own outcome."""

    def __init__(self, db: Database, now: Callable) -> None:
        self.db = db
        self.now = now
        # (save or None for a barrier, its caller's future, when it was queued: loop time)
        self._queue: list[tuple[Save | None, asyncio.Future, float]] = []
        self._task: asyncio.Task | None = None
        self._store = SqliteBatch(db.engine.url) if db.is_sqlite else PgBatch(db.engine)
        self.batches = 0  # for the benchmark and tests: how many transactions ran
        self.saved = 0
        self._last_commit = 0.0
        self._window = _Window()

    async def save(self, item: Save) -> None:
        """Store one answer; returns once it is committed, raises AppError if refused."""
        error = await self._enqueue(item)
        if error is not None:
            raise error

    async def barrier(self) -> None:
        """Wait until every save queued before this call has been committed or refused."""
        await self._enqueue(None)

    async def close(self) -> None:
        """Give back what the writer keeps (PostgreSQL: its connection) once idle."""
        await self.barrier()
        if isinstance(self._store, PgBatch):
            await self._store.close()

    def _enqueue(self, item: Save | None) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((item, future, loop.time()))
        if self._task is None or self._task.done():
            # The task lives only while there is work, so nothing lingers between saves.
            self._task = loop.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if loop.time() - self._last_commit < BUSY_WITHIN_SECONDS:
                await asyncio.sleep(self._store.LINGER_SECONDS)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            saves = [(item, future) for item, future, _ in batch if item is not None]
            if saves:
                profiling.observe("commit.queue", (loop.time() - batch[0][2]) * 1000)
                await self._commit(saves)
            for item, future, _ in batch:
                if item is None and not future.done():
                    future.set_result(None)

    async def _commit(self, saves: list[tuple[Save, asyncio.Future]]) -> None:
        try:
            outcomes = await self._transaction([item for item, _ in saves])
        except Exception as error:
            if unavailable(error):
                # Every save of the batch waits alike: all are told to try again.
                log.warning("autosave: database unavailable (%s); %d saves busy", error, len(saves))
                outcomes = [BUSY] * len(saves)
            elif len(saves) == 1:
                log.exception("autosave failed")
                outcomes = [BUSY]
            else:
                # One bad save must not sink the others: retry them one by one.
                log.warning("autosave batch of %d failed; retrying singly", len(saves))
                for pair in saves:
                    await self._commit([pair])
                return
        self.batches += 1
        self._last_commit = asyncio.get_running_loop().time()
        self.saved += sum(1 for o in outcomes if o is None)
        for (_, future), outcome in zip(saves, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _transaction(self, items: list[Save]) -> list[AppError | None]:
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with self.db.turn(urgent=True):  # SQLite's single writer; free elsewhere
            held = loop.time()
            outcomes = await self._store.run(items, self.now())
        ended = loop.time()
        profiling.observe("commit.wait", (held - began) * 1000)
        profiling.observe("commit.hold", (ended - held) * 1000)
        profiling.observe("commit.size", len(items))
        self._window.add(len(items), (ended - began) * 1000, ended)
        return outcomes


class _Window:
    """A log line every minute under load says how the group commit is doing."""

    def __init__(self) -> None:
        self.since = self.saves = self.batches = 0
        self.ms = self.slowest = 0.0

    def add(self, saves: int, ms: float, now: float) -> None:
        self.since = self.since or now
        self.saves += saves
        self.batches += 1
        self.ms += ms
        self.slowest = max(self.slowest, ms)
        if now - self.since >= LOG_EVERY_SECONDS:
            log.info(
                "autosave: %d saves in %d transactions (%.1f a batch), %.1f ms each, slowest %.0f ms",
                self.saves,
                self.batches,
                self.saves / self.batches,
                self.ms / self.batches,
                self.slowest,
            )
            self.__init__()


# answers.save_answers's own statements and column types, compiled once for the sqlite3
# module: one definition of the SQL, of how instants are stored, and of the pragmas.
_SQLITE = sqlite_dialect.dialect(paramstyle="qmark")
_ATTEMPTS = str(
    answers.ATTEMPTS.where(Attempt.id.in_(bindparam("ids", expanding=True))).compile(
        dialect=_SQLITE
    )
)
_IDS = "__[POSTCOMPILE_ids]"  # the expanding list, one ? per id at run time
_UPSERT_COLUMNS = ("attempt_id", "question_id", "value", "seq", "saved_at")
_UPSERT = str(answers.SQLITE_UPSERT.compile(dialect=_SQLITE, column_keys=_UPSERT_COLUMNS))
_stored = Answer.__table__.c.saved_at.type.dialect_impl(_SQLITE).bind_processor(_SQLITE)
_deadline = Attempt.__table__.c.deadline.type.dialect_impl(_SQLITE).result_processor(_SQLITE, None)


class SqliteBatch:
    """Runs one autosave transaction per call on its own sqlite3 connection.

    The transaction runs right on the event loop: a batch of a hundred upserts takes a
    millisecond or two, while handing it to a thread costs more, because the sqlite3
    module releases the GIL around every row and, with the loop busy serving thousands of
    sockets, each time takes up to the 5 ms switch interval to get it back. The one thing
    that may take long, waiting for another process's write lock, is not done here: with
    no busy timeout, a locked database sends the batch to a worker thread that waits up to
    LOCK_WAIT_SECONDS, after which its saves answer ``busy``.
    Calls never overlap (the writer takes the process's write turn around each).
    """

    # Under steady load a commit waits this long for company: each transaction costs more
    # than each save in it, so fuller batches save CPU at the price of the wait. Here a
    # transaction is cheap (0.2-0.3 ms on the loop): 10 ms gave batches of ~11 at 600 saves
    # a second and a 14 ms median ack, 2 ms the same CPU per ack (bench/opening.py) and a
    # 4-5 ms one.
    LINGER_SECONDS = 0.002

    def __init__(self, url) -> None:
        self.path = make_url(str(url)).database
        self._conn: sqlite3.Connection | None = None

    async def run(self, saves: list[Save], now: dt.datetime) -> list[AppError | None]:
        conn = self._connect()
        try:
            return self._run(conn, saves, now)
        except sqlite3.OperationalError as error:
            if not sqlite_writes.busy(error):
                raise
        conn.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_SECONDS * 1000)}")
        try:
            return await asyncio.to_thread(self._run, conn, saves, now)
        finally:
            conn.execute("PRAGMA busy_timeout=0")

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=0, check_same_thread=False
            )
            for pragma in SQLITE_PRAGMAS:  # so it behaves like every other connection
                conn.execute(f"PRAGMA {pragma}")
            conn.execute("PRAGMA busy_timeout=0")
            self._conn = conn
        return self._conn

    @staticmethod
    def _run(
        conn: sqlite3.Connection, saves: list[Save], now: dt.datetime
    ) -> list[AppError | None]:
        ids = sorted({s.attempt_id for s in saves})
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows = conn.execute(_ATTEMPTS.replace(_IDS, ",".join("?" * len(ids))), ids)
            attempts = {
                aid: (user_id, status, _deadline(deadline), tab)
                for aid, user_id, status, deadline, tab in rows.fetchall()
            }
            outcomes, latest = answers.judge_saves(saves, attempts, now)
            stamp = _stored(now)
            conn.executemany(
                _UPSERT,
                [(s.attempt_id, s.question_id, s.value, s.seq, stamp) for s in latest.values()],
            )
            # Timed alone: on SQLite a commit may also run a checkpoint of the WAL.
            with profiling.timed("commit.end"):
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes


# The same for asyncpg ($1, $2, … in the order of positiontup).
_PG = asyncpg_dialect.dialect()
_PG_ATTEMPTS = answers.PG_ATTEMPTS.compile(dialect=_PG)
_PG_UPSERT = answers.PG_UPSERT.compile(dialect=_PG)
_pg_deadline = Attempt.__table__.c.deadline.type.dialect_impl(_PG).result_processor(_PG, None)


class PgBatch:
    """Runs one autosave transaction per call straight through asyncpg.

    Through a session of the unit of work each batch paid for the ORM's statement
    handling, greenlet switches and the pool's ping on checkout (three round trips on
    asyncpg): twice the server CPU per answer of SQLite (bench/opening.py). Here a batch is
    BEGIN, the attempts ``FOR SHARE`` (waiting for a concurrent close, so nothing is stored
    after grading), one upsert of arrays, COMMIT, on a pooled connection the batch keeps
    while saves keep coming and gives back KEEP_SECONDS after the last. Any error
    invalidates that connection, so the next batch starts on a fresh one.
    Calls never overlap (the writer runs one batch at a time).
    """

    KEEP_SECONDS = 1.0
    # Four round trips a transaction cost more CPU than SQLite's: at 600 saves a second on
    # two servers (bench/opening.py), 10 ms (batches of 7-9) took 0.43-0.52 ms of CPU per
    # ack against 0.64-0.71 ms for 2 ms (batches of 3-4); the median ack is 16 ms, not 7.
    LINGER_SECONDS = 0.01

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._held: AsyncConnection | None = None
        self._release: asyncio.TimerHandle | None = None
        self._closing: asyncio.Future | None = None

    async def run(self, saves: list[Save], now: dt.datetime) -> list[AppError | None]:
        if self._release is not None:
            self._release.cancel()
            self._release = None
        if self._held is None:
            self._held = await self.engine.connect()
        held = self._held
        try:
            raw = (await held.get_raw_connection()).driver_connection
            outcomes = await self._run(raw, saves, now)
        except BaseException:
            self._held = None
            with contextlib.suppress(Exception):
                await held.invalidate()
            with contextlib.suppress(Exception):
                await held.close()
            raise
        self._release = asyncio.get_running_loop().call_later(self.KEEP_SECONDS, self._let_go)
        return outcomes

    def _let_go(self) -> None:
        self._release = None
        held, self._held = self._held, None
        if held is not None:
            self._closing = asyncio.ensure_future(held.close())

    async def close(self) -> None:
        """Give the kept connection back to the pool (the next batch takes one again)."""
        if self._release is not None:
            self._release.cancel()
        self._let_go()
        if self._closing is not None:
            await self._closing
            self._closing = None

    @staticmethod
    async def _run(conn, saves: list[Save], now: dt.datetime) -> list[AppError | None]:
        ids = sorted({s.attempt_id for s in saves})
        async with conn.transaction():
            rows = await conn.fetch(_PG_ATTEMPTS.string, ids)  # positiontup: ["ids"]
            attempts = {
                aid: (user_id, status, _pg_deadline(deadline), tab)
                for aid, user_id, status, deadline, tab in rows
            }
            outcomes, latest = answers.judge_saves(saves, attempts, now)
            if latest:
                stored = list(latest.values())
                columns = {
                    "attempt_ids": [s.attempt_id for s in stored],
                    "question_ids": [s.question_id for s in stored],
                    "values": [s.value for s in stored],
                    "seqs": [s.seq for s in stored],
                    # As app.db.UTCDateTime stores instants: naive UTC.
                    "saved": [now.astimezone(dt.UTC).replace(tzinfo=None)] * len(stored),
                }
                await conn.execute(
                    _PG_UPSERT.string, *(columns[name] for name in _PG_UPSERT.positiontup)
                )
        return outcomes
