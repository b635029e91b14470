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


def session_room(session_id: int) -> str:
    """The Socket.IO room of every exam page of an exam session (session-wide messages)."""
    return f"exam-session:{session_id}"


def offline_key(attempt_id: int) -> str:
    """Since when (epoch ms) the tab that held an open attempt has been gone."""
    return f"exam:offline:{attempt_id}"


OFFLINE_TTL = 86400


async def went_offline(redis, attempt_id: int, now: dt.datetime) -> None:
    """Note when an attempt's tab went away (for the invigilators' 离线 since)."""
    await redis.set(offline_key(attempt_id), epoch_ms(now), ex=OFFLINE_TTL)


async def presence(redis, attempt_ids: list[int]) -> dict[int, tuple[bool, int | None]]:
    """Per open attempt: whether a tab holds it now, and since when it has been offline."""
    if not attempt_ids:
        return {}
    values = await redis.mget(
        [owner_key(a) for a in attempt_ids] + [offline_key(a) for a in attempt_ids]
    )
    n = len(attempt_ids)
    return {
        a: (values[i] is not None, int(values[n + i]) if values[n + i] else None)
        for i, a in enumerate(attempt_ids)
    }
