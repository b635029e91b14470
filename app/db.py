"""Database engine, declarative base and the unit of work.

Every area writes through ``Database.write()``: one session and one transaction, committed
when the block ends cleanly and rolled back otherwise. Work that must happen only once the
data is committed (telling pages, queueing jobs) is registered on the session with
``after_commit`` or recorded as an event (``app.events``); it runs after the commit, never
after a rollback. Services take the session as a keyword and never open one themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import DateTime, MetaData, String, event, make_url, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from app.lib import crypto, profiling, sqlite_checkpoints, sqlite_writes
from app.lib.turns import Turns

log = logging.getLogger("safece.db")

AFTER_COMMIT = "safece_after_commit"
BUSY_TIMEOUT_MS = 30_000  # SQLite: how long a connection waits for another process's lock
EVENTS = "safece_events"

# Behind PgBouncer in transaction mode each transaction may run on another server
# connection, so no prepared statement may be reused after its transaction: asyncpg's own
# cache and SQLAlchemy's are off, and each statement is prepared under a name of its own
# (a leftover never collides with the next client's). PgBouncer's server_reset_query
# (DISCARD ALL) drops them when the transaction ends (devtools/cluster.py's pgbouncer.ini).
PGBOUNCER_CONNECT_ARGS = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__",
}

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


# Engines kept across the Databases of a process (`keep_engines`); None: each its own.
_kept_engines: dict[tuple[str, bool], AsyncEngine] | None = None


def keep_engines() -> None:
    """From now on the Databases this process opens in its main thread share one engine per
    URL, and on PostgreSQL disposing one leaves the pool's open connections to the next.

    For a process that opens the same database again and again: each test of a test worker
    builds an app of its own. SQLAlchemy compiles statements once per engine (its compiled
    cache is the engine's), and each new PostgreSQL connection costs a backend and asyncpg's
    set-up; with an engine each, every test paid for both again (~12 % of a SQLite test's
    CPU, ~20 % of a PostgreSQL test's). SQLite connections are closed as before (a test's
    database file is replaced: `dispose_kept_engines` first). The main thread's only: an
    engine's connections belong to one event loop, and other threads run loops of their
    own (the study writer, commands run with asyncio.run). A server or a worker opens one
    Database and never calls this."""
    global _kept_engines
    if _kept_engines is None:
        _kept_engines = {}


async def dispose_kept_engines() -> None:
    """Close every connection the kept engines hold (before their databases are replaced)."""
    for engine in (_kept_engines or {}).values():
        await engine.dispose()


class Database:
    """Owns the engine and hands out one session per unit of work."""

    def __init__(self, url: str, *, pgbouncer: bool = False, **engine_options: object) -> None:
        key = (url, pgbouncer)
        keep = (
            _kept_engines is not None
            and not engine_options
            and threading.current_thread() is threading.main_thread()
        )
        if url.startswith("sqlite"):
            # Write transactions run on the event loop (app/lib/sqlite_writes.py).
            engine_options.setdefault(
                "async_creator",
                sqlite_writes.creator(make_url(url).database, busy_timeout_ms=BUSY_TIMEOUT_MS),
            )
            # A writer may have to open a connection while holding the write turn (it takes
            # several thread switches): under load enough stay open that it rarely must.
            engine_options.setdefault("pool_size", 20)
            engine_options.setdefault("max_overflow", 30)
        else:
            engine_options.setdefault("pool_size", 20)
            engine_options.setdefault("max_overflow", 20)
            engine_options.setdefault("pool_pre_ping", True)
            if pgbouncer:
                engine_options.setdefault("connect_args", PGBOUNCER_CONNECT_ARGS)
        # The most connections this process's pool opens at once (/metrics reports it).
        self.max_connections = int(engine_options.get("pool_size", 5)) + int(
            engine_options.get("max_overflow", 10)
        )
        self.is_sqlite = url.startswith("sqlite")
        kept = _kept_engines.get(key) if keep else None
        self.engine: AsyncEngine = kept or _engine(url, self.is_sqlite, engine_options)
        if keep:
            _kept_engines[key] = self.engine
        self._keeps_connections = keep and not self.is_sqlite
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(safece_readonly=True), expire_on_commit=False
        )
        self.quick_read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(safece_readonly=True, safece_on_loop=True),
            expire_on_commit=False,
        )
        # Set by build_services: hands a committed unit's events to their handlers.
        self.dispatch: Callable[[list[object]], Awaitable[None]] | None = None
        self._turns = Turns()
        # SQLite: checkpoints in a thread, not inside commits on the event loop
        # (app/lib/sqlite_checkpoints.py); started by the first write.
        self.checkpoints = (
            sqlite_checkpoints.Checkpointer(make_url(url).database) if self.is_sqlite else None
        )

    @contextlib.asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        """This process's turn to write; on SQLite, one writer at a time, elsewhere free.

        SQLite has a single write lock. When several connections of one process ask for it
        at once, the losers sleep in SQLite's busy handler with growing back-off (up to
        100 ms a try) even if the lock is free a millisecond later, which ruins tail
        latency. Taking turns first means a waiting writer starts the moment the previous
        one commits; ``urgent`` writers (the autosave group commit) go before the others
        that wait (``app.lib.turns``). Across processes the busy handler still
        arbitrates, rarely."""
        if not self.is_sqlite:
            yield
            return
        self.checkpoints.start()
        async with self._turns.turn(urgent=urgent):
            yield

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction; what was registered to follow it runs after the commit."""
        async with self.sessionmaker() as session:
            asked = time.perf_counter()
            # The turn spans BEGIN to COMMIT only: closing the session after it takes a few
            # turns of the event loop (SQLAlchemy closes it in a task of its own), each
            # tens of milliseconds under load, and other writers need not wait for them.
            async with self.turn(), session.begin():
                began = time.perf_counter()
                yield session
            profiling.observe("write.wait", (began - asked) * 1000)
            profiling.observe("write.hold", (time.perf_counter() - began) * 1000)
            work = session.info.pop(AFTER_COMMIT, [])
            events = session.info.pop(EVENTS, [])
        # Outside the turn: the next writer need not wait for pages to be told.
        if events and self.dispatch is not None:
            work.insert(0, lambda: self.dispatch(events))
        for step in work:
            try:
                await step()
            except Exception:
                # The data is committed; what follows it is best effort (and swept).
                log.exception("after-commit work failed")

    @contextlib.asynccontextmanager
    async def read(self, *, quick: bool = False) -> AsyncIterator[AsyncSession]:
        """A session for reading only; on SQLite it does not take the write lock.

        ``quick``: a few indexed reads (a learner's start, join, page) that on SQLite run on
        the event loop, as writes do (app/lib/sqlite_writes.py), not in aiosqlite's thread.
        Each statement there is four hand-offs between threads, and with the loop busy each
        waits for the GIL, up to the switch interval (1 ms in a server on SQLite, app.asgi):
        at an exam's opening those waits and their CPU, not the SQL, made a start cost
        16-18 ms of server CPU instead of 8-9, and take hundreds of milliseconds. A read that may be long (a
        report, an export) keeps the thread, so that it never stalls the loop."""
        began = time.perf_counter()
        maker = self.quick_read_sessionmaker if quick else self.read_sessionmaker
        async with maker() as session, session.begin():
            yield session
        # On SQLite a read holds a snapshot of the WAL, which cannot restart meanwhile.
        profiling.observe("read.hold", (time.perf_counter() - began) * 1000)

    async def dispose(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.stop()
        if not self._keeps_connections:
            await self.engine.dispose()


def _engine(url: str, is_sqlite: bool, options: dict) -> AsyncEngine:
    engine = create_async_engine(url, **options)
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def after_commit(session: AsyncSession, work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work()`` once this session's transaction has committed (never on rollback)."""
    session.info.setdefault(AFTER_COMMIT, []).append(work)


# Every SQLite connection of the app (the autosave's own included, app/exams/autosave.py).
# wal_autocheckpoint=0: the Database's checkpointer does it, in a thread
# (app/lib/sqlite_checkpoints.py).
SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "wal_autocheckpoint=0",
)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
    # another writer committed in between; taking the write lock up front makes it wait.
    options = conn.get_execution_options()
    readonly = options.get("safece_readonly")
    conn.connection.driver_connection.write_inline(not readonly or options.get("safece_on_loop"))
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


class SealedIdNumber(TypeDecorator):
    """An ID number, stored encrypted (app/lib/crypto.py) and read back in clear.

    The table keeps the number's blind index (``index_of``) in an ``id_number_index`` column:
    ``User.id_number == x`` and ``User.id_number.in_(xs)`` compare that column; nothing else can be asked of an encrypted value (no LIKE, no ordering)."""

    impl = String(120)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else crypto.seal(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else crypto.reveal(value)

    class comparator_factory(TypeDecorator.Comparator):
        def _index(self):
            return self.expr.table.c.id_number_index

        def operate(self, op, *other, **kwargs):
            if op is operators.eq:
                return self._index() == index_of(other[0])
            if op is operators.ne:
                return self._index() != index_of(other[0])
            if op is operators.in_op:
                return self._index().in_([index_of(v) for v in other[0]])
            raise NotImplementedError("ID numbers are encrypted: only whole numbers compare")


def index_of(id_number: str) -> str:
    """The blind index of an ID number (as typed: trimmed, a trailing x as X)."""
    return crypto.blind_index((id_number or "").strip().replace(" ", "").upper())


async def reseal(session: AsyncSession) -> int:
    """Encrypt every sealed value of every table again under the current key (after a key
    rotation: ``python -m app rotate-key``); blind indexes do not change. Returns how many
    values there were. Every area's models must be imported (``app.start_services``)."""
    count = 0
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, SealedIdNumber):
                continue
            rows = (await session.execute(select(table.c.id, column))).all()
            for row_id, value in rows:
                # The column's type seals the value under the current key as it is written.
                await session.execute(
                    update(table).where(table.c.id == row_id).values({column.name: value})
                )
            count += len(rows)
    return count
