"""Checkpoints of a SQLite write-ahead log, in a thread of their own.

By default SQLite checkpoints inside a commit: the connection whose COMMIT leaves 1,000
pages or more in the WAL then copies them into the database file and syncs it to disk,
before COMMIT returns. Our write transactions commit on the event loop
(``app.lib.sqlite_writes``, the autosave's ``SqliteBatch``), so that copy and its fsync,
milliseconds on a quiet disk and hundreds of them when the disk is busy, stopped every
socket of the process. And when readers keep the WAL from being restarted it stays past
1,000 pages, so *every* commit checkpointed (docs/realtime.md, "Checkpoints").

So a ``Database`` turns the automatic checkpoint off on its connections
(``wal_autocheckpoint=0``) and runs this ``Checkpointer``: a thread with a connection of
its own that every ``every`` seconds runs a PASSIVE checkpoint, which copies whatever the
readers allow and never waits for, or blocks, a writer or a reader. sqlite3 releases the
GIL while it works, so the event loop goes on meanwhile. Each checkpoint's time
and the pages in the WAL are observed (``checkpoint``, ``checkpoint.frames``:
app/lib/profiling.py).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from app.lib import profiling

log = logging.getLogger("safece.sqlite")

EVERY_SECONDS = 0.5


class Checkpointer:
    """A PASSIVE checkpoint of one database every ``every`` seconds, in a thread."""

    def __init__(self, path: str, every: float = EVERY_SECONDS) -> None:
        self.path = path
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"checkpoints {self.path}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (at once: it waits on the event)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self._stop.clear()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            # As every connection of app.db sets it; until then a new connection does
            # not know the file has a write-ahead log, and checkpoints nothing.
            conn.execute("PRAGMA journal_mode=WAL")
            while not self._stop.wait(self.every):
                try:
                    self.checkpoint(conn)
                except sqlite3.Error as error:
                    # The disk failed, or the file went away (a test's): try again later.
                    log.warning("checkpoint of %s failed (%s)", self.path, error)
        finally:
            # The last connection to close checkpoints what is left (SQLite does that).
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """One PASSIVE checkpoint: (pages in the WAL, pages copied so far)."""
        began = time.perf_counter()
        _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        profiling.observe("checkpoint", (time.perf_counter() - began) * 1000)
        profiling.observe("checkpoint.frames", frames)
        return frames, copied
