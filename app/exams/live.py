"""The exam's live state in Redis and its Socket.IO addresses, shared by every process.

The ``/exam`` namespace (realtime/exam.py) keeps which tab holds a paper and caches each
open attempt's deadline for clock syncs; the exam area's event handlers push to the
attempt's room from whichever process closed or extended it.
"""

from __future__ import annotations

import datetime as dt

from app.clock import epoch_ms

NAMESPACE = "/exam"


def room(attempt_id: int) -> str:
    """The Socket.IO room of the tab that holds an attempt."""
    return f"attempt:{attempt_id}"


def owner_key(attempt_id: int) -> str:
    """Which tab (``<tab>|<sid>``) holds an attempt."""
    return f"exam:owner:{attempt_id}"


def deadline_key(attempt_id: int) -> str:
    # Only what the page is shown: saves and the sweeper always use the database.
    return f"exam:deadline:{attempt_id}"


async def remember_deadline(
    redis, attempt_id: int, deadline: dt.datetime, now: dt.datetime
) -> None:
    """Cache an open attempt's deadline for clock syncs (kept an hour past it)."""
    ttl = max(60, int((deadline - now).total_seconds()) + 3600)
    await redis.set(deadline_key(attempt_id), epoch_ms(deadline), ex=ttl)


async def forget_deadlines(redis, attempt_ids: list[int]) -> None:
    """Drop the cached deadlines of attempts that closed."""
    if attempt_ids:
        await redis.delete(*(deadline_key(a) for a in attempt_ids))
