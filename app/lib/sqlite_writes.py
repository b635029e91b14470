"""An aiosqlite connection whose write transactions run right on the event loop.

aiosqlite hands every call to a thread of its own and waits for the answer: two thread
switches a call, and with the loop busy serving thousands of sockets each switch waits
for the GIL up to the 5 ms switch interval. A write through SQLAlchemy makes four calls a
statement (cursor, execute, fetch, close), so a learner's join or disconnect, whose SQL
takes a millisecond, held SQLite's write lock (and the process's write turn) for 40-200
ms, and the learners' autosaves queued behind it.

So while this connection is in a write transaction (``app.db`` says so as the transaction
begins) its calls run on the loop, without a busy timeout. The one call that may have to
wait, taking the write lock while another process holds it, then fails at once with
SQLITE_BUSY and is sent to the thread, which waits as aiosqlite always did (a statement
that fails busy has done nothing, so it is simply run again). Reads keep the thread: a
report's query may take long and holds no lock anybody waits for.
"""

from __future__ import annotations

import inspect
import sqlite3
from typing import Any

import aiosqlite

# This module overrides aiosqlite's private ``_execute`` and reads ``_conn``,
# ``_connection`` and ``_thread``: as in aiosqlite 0.22.1 (pinned in pyproject.toml).
AIOSQLITE_VERSION = "0.22.1"


def internals_problem() -> str | None:
    """What differs, in the installed aiosqlite, from the internals this module relies on."""
    if aiosqlite.__version__ != AIOSQLITE_VERSION:
        return f"aiosqlite {aiosqlite.__version__} installed, app/lib/sqlite_writes.py is written for {AIOSQLITE_VERSION}"
    base = aiosqlite.Connection
    execute = getattr(base, "_execute", None)
    if execute is None or list(inspect.signature(execute).parameters) != [
        "self",
        "fn",
        "args",
        "kwargs",
    ]:
        return "aiosqlite.Connection._execute(fn, *args, **kwargs) is gone or changed"
    if not isinstance(inspect.getattr_static(base, "_conn", None), property):
        return "aiosqlite.Connection._conn is no longer a property"
    source = inspect.getsource(base.__init__)
    for name in ("self._connection", "self._thread"):
        if name not in source:
            return f"aiosqlite.Connection no longer sets {name}"
    return None


def busy(error: BaseException) -> bool:
    """Whether SQLite refused because another connection holds the lock."""
    return isinstance(error, sqlite3.OperationalError) and (
        "locked" in str(error) or "busy" in str(error)
    )


class Connection(aiosqlite.Connection):
    """aiosqlite, with write transactions on the calling (event loop) thread."""

    def __init__(self, path: str, *, busy_timeout_ms: int) -> None:
        super().__init__(lambda: self._open(path), iter_chunk_size=64)
        self._thread.daemon = True  # as SQLAlchemy makes aiosqlite's own
        self.busy_timeout_ms = busy_timeout_ms
        self.inline = False

    def _open(self, path: str) -> sqlite3.Connection:
        # Used from two threads, never at once: SQLAlchemy awaits each call.
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        return conn

    def write_inline(self, inline: bool) -> None:
        """Run the calls of the transaction about to begin on the loop (a write, or a quick
        read: ``Database.read(quick=True)``) or in the thread (any other read). Called
        between transactions, when no call is running."""
        if inline != self.inline:
            self._conn.execute(f"PRAGMA busy_timeout={0 if inline else self.busy_timeout_ms}")
            self.inline = inline

    async def _execute(self, fn, *args: Any, **kwargs: Any) -> Any:
        if self.inline and self._connection is not None:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as error:
                if not busy(error):
                    raise
            return await super()._execute(self._waiting, fn, args, kwargs)
        return await super()._execute(fn, *args, **kwargs)

    def _waiting(self, fn, args: tuple, kwargs: dict) -> Any:
        # In the thread: wait for the other process's lock as long as a read would.
        self._conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")


def creator(path: str, *, busy_timeout_ms: int):
    """``create_async_engine(async_creator=…)``: opens one such connection per call."""

    problem = internals_problem()
    if problem is not None:
        raise RuntimeError(f"{problem}: check the overrides before upgrading aiosqlite")

    async def connect() -> Connection:
        return await Connection(path, busy_timeout_ms=busy_timeout_ms)

    return connect
