"""SQLite's WAL is checkpointed by a thread of the Database, never inside a commit on the
event loop (app/lib/sqlite_checkpoints.py)."""

from __future__ import annotations

import os
import sqlite3
import threading

import pytest
from sqlalchemy import make_url, text

from app.lib import profiling

PAGES = 1500  # past SQLite's automatic checkpoint (1,000 pages)


@pytest.fixture
def sqlite_db(svc):
    if not svc.db.is_sqlite:
        pytest.skip("only SQLite has a write-ahead log to checkpoint")
    return svc.db


async def _write_pages(db, pages: int) -> None:
    """Commit about ``pages`` pages of new rows, one transaction per ~10 pages."""
    async with db.write() as session:
        await session.execute(text("CREATE TABLE filler (body BLOB)"))
    for _ in range(pages // 10):
        async with db.write() as session:
            await session.execute(text("INSERT INTO filler VALUES (zeroblob(40000))"))


def _wal_pages(db) -> int:
    path = make_url(str(db.engine.url)).database
    with sqlite3.connect(path) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    return os.stat(f"{path}-wal").st_size // page


async def test_commits__never_checkpoint_themselves(sqlite_db):
    sqlite_db.checkpoints.every = 3600  # the thread stays asleep through this test

    async with sqlite_db.write() as session:
        setting = (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one()
    await _write_pages(sqlite_db, PAGES)

    assert setting == 0
    # Had a commit checkpointed at 1,000 pages, the log would have started again from
    # its beginning and never grown this long.
    assert _wal_pages(sqlite_db) >= PAGES
    path = make_url(str(sqlite_db.engine.url)).database
    with sqlite3.connect(path, isolation_level=None) as conn:
        frames, copied = sqlite_db.checkpoints.checkpoint(conn)
    assert frames >= PAGES and copied == frames


async def test_checkpointer__copies_the_log_in_its_own_thread(sqlite_db):
    sqlite_db.checkpoints.every = 0.01
    threads: set[int] = set()
    heard = threading.Event()

    def sink(point: str, value: float) -> None:
        if point == "checkpoint.frames" and value > 0:
            threads.add(threading.get_ident())
            heard.set()

    stop = profiling.listen(sink)
    try:
        await _write_pages(sqlite_db, 100)
        assert heard.wait(timeout=30)
    finally:
        stop()

    assert threads and threading.get_ident() not in threads


async def test_checkpointer__stops_with_the_database(sqlite_db):
    sqlite_db.checkpoints.every = 3600
    async with sqlite_db.write():
        pass
    thread = sqlite_db.checkpoints._thread

    sqlite_db.checkpoints.stop()

    assert thread is not None and not thread.is_alive()
