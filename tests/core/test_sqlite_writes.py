"""SQLite write transactions and quick reads run on the event loop; other reads and lock
waits in aiosqlite's thread (app/lib/sqlite_writes.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from sqlalchemy import make_url, text

from app.db import BUSY_TIMEOUT_MS


@pytest.fixture
def sqlite_db(svc):
    if not svc.db.is_sqlite:
        pytest.skip("only SQLite connections run writes on the event loop")
    return svc.db


async def _thread_of_statements(session) -> int:
    """The thread in which this session's statements run."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.create_function("thread_of_call", 0, threading.get_ident)
    return (await session.execute(text("SELECT thread_of_call()"))).scalar_one()


async def test_write__runs_its_statements_on_the_event_loop_and_a_read_in_the_thread(sqlite_db):
    async with sqlite_db.write() as session:
        writing = await _thread_of_statements(session)
    async with sqlite_db.read() as session:
        reading = await _thread_of_statements(session)
    async with sqlite_db.write() as session:
        writing_again = await _thread_of_statements(session)

    assert writing == writing_again == threading.get_ident()
    assert reading != threading.get_ident()


async def test_quick_read__runs_on_the_event_loop_and_the_next_read_in_the_thread(sqlite_db):
    async with sqlite_db.read(quick=True) as session:
        quick = await _thread_of_statements(session)
        quick_timeout = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()
        # A read all the same: it takes no write lock (another connection may write).
        other = sqlite3.connect(make_url(str(sqlite_db.engine.url)).database, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
    async with sqlite_db.read() as session:
        reading = await _thread_of_statements(session)
        timeout = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()

    assert (quick, quick_timeout) == (threading.get_ident(), 0)
    assert timeout == BUSY_TIMEOUT_MS and reading != threading.get_ident()


async def test_write__never_waits_on_the_loop_and_a_read_waits_as_before(sqlite_db):
    async with sqlite_db.write() as session:
        in_write = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()
    async with sqlite_db.read() as session:
        in_read = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()

    assert (in_write, in_read) == (0, BUSY_TIMEOUT_MS)


async def test_write__waits_in_the_thread_while_another_process_holds_the_lock(sqlite_db):
    other = sqlite3.connect(
        make_url(str(sqlite_db.engine.url)).database, isolation_level=None, timeout=0
    )
    other.execute("PRAGMA journal_mode=WAL")  # as every connection of app.db sets it
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE held_elsewhere (n INTEGER)")

    async def write() -> list[str]:
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO held_elsewhere VALUES (1)"))
            # After the wait the transaction goes on on the loop, without a busy timeout.
            return [
                (await session.execute(text("PRAGMA busy_timeout"))).scalar_one(),
                await _thread_of_statements(session),
            ]

    loop = asyncio.get_running_loop()
    writing = asyncio.create_task(write())
    began = loop.time()
    # The loop keeps serving while the writer waits (a busy wait on it would stall these
    # for the whole busy timeout).
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not writing.done()
    assert loop.time() - began < BUSY_TIMEOUT_MS / 1000 / 2
    other.execute("COMMIT")
    timeout, thread = await asyncio.wait_for(writing, timeout=10)
    other.close()

    assert (timeout, thread) == (0, threading.get_ident())
    async with sqlite_db.read() as session:
        rows = (await session.execute(text("SELECT n FROM held_elsewhere"))).scalars().all()
    assert rows == [1]


async def test_write__holds_the_write_turn_for_no_turn_of_the_event_loop(sqlite_db):
    # Under load every turn of the loop takes milliseconds; a writer must not hold SQLite
    # (and every autosave waiting for it) across one, e.g. while its session closes.
    turns_held = 0
    done = False

    async def watch() -> None:
        nonlocal turns_held
        while not done:
            turns_held += sqlite_db._turns.held
            await asyncio.sleep(0)

    async with sqlite_db.write() as session:
        await session.execute(text("SELECT 1"))  # opens a connection (in aiosqlite's thread)
    watching = asyncio.create_task(watch())
    await asyncio.sleep(0)
    for _ in range(3):
        async with sqlite_db.write() as session:
            await session.execute(text("SELECT id FROM exam_attempts WHERE id = -1"))
            await session.execute(text("UPDATE exam_attempts SET tab = tab WHERE id = -1"))
    done = True
    await watching

    assert turns_held == 0
