"""Write transactions for the exam area: on SQLite, one at a time per process.

SQLite has a single write lock. When several connections of one process ask for it at
once, the losers sleep in SQLite's busy handler with growing back-off (up to 100 ms a
try) even if the lock is free a millisecond later, which ruins autosave tail latency.
Taking turns on an asyncio lock first means a waiting writer starts the moment the
previous one commits. Across processes the busy handler still arbitrates, rarely.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database

_locks: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_lock(db: Database) -> asyncio.Lock:
    """This process's turn-taking lock for writes to a SQLite database."""
    lock = _locks.get(db)
    if lock is None:
        lock = _locks[db] = asyncio.Lock()
    return lock


@contextlib.asynccontextmanager
async def writing(db: Database) -> AsyncIterator[AsyncSession]:
    """A write transaction (committed at the end), serialised per process on SQLite."""
    if not db.is_sqlite:
        async with db.transaction() as session:
            yield session
        return
    async with write_lock(db), db.transaction() as session:
        yield session
