"""The exam's live state in Redis and its Socket.IO addresses, shared by every process.

The ``/exam`` namespace (realtime/exam.py) keeps which tab holds a paper and caches each
open attempt's deadline for clock syncs; the exam area's event handlers push to the
attempt's room from whichever process closed or extended it.

**Which tab holds a paper follows its connection**, not a timer the browser may throttle:
``exam:owner:<attempt>`` = ``<tab>|<sid>|<process>`` is written when the tab joins and
removed when its socket disconnects; it is kept until an hour past the deadline. The
holder counts as connected while its server process is alive: each process refreshes
``exam:process:<process>`` (30 s) every 10 s. A tab that stays connected, however long it
sends nothing, keeps the paper; one whose process died loses it within 30 s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from app.clock import epoch_ms
from app.lib import redis_scripts

NAMESPACE = "/exam"
PROCESS_TTL = 30  # seconds a server process counts as alive after its last heartbeat
PROCESS_BEAT = 10  # seconds between heartbeats


def room(attempt_id: int) -> str:
    """The Socket.IO room of the tab that holds an attempt."""
    return f"attempt:{attempt_id}"


def owner_key(attempt_id: int) -> str:
    """Which tab (``<tab>|<sid>|<process>``) holds an attempt."""
    return f"exam:owner:{attempt_id}"


def process_key(process: str) -> str:
    """Present while a server process (and so every socket it holds) is alive."""
    return f"exam:process:{process}"


def owner_value(tab: str, sid: str, process: str) -> str:
    return f"{tab}|{sid}|{process}"


def owner_ttl(deadline: dt.datetime, now: dt.datetime) -> int:
    """How long a holder is remembered: until an hour past the deadline."""
    return max(60, int((deadline - now).total_seconds()) + 3600)


@dataclasses.dataclass(frozen=True)
class Holder:
    """The tab that holds a paper, and whether its connection is still up."""

    tab: str
    sid: str
    connected: bool


# Give up a paper only if this tab still holds it.
RELEASE = redis_scripts.COMPARE_AND_DELETE
# Re-claim the paper if no tab holds it (Redis lost it, e.g. a restart) and return the
# cached deadline, so that the ~30 s clock sync needs no database read.
SYNC = """
if not redis.call('get', KEYS[1]) then redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return redis.call('get', KEYS[2])
"""

# The holder and, in the same step, whether its process is alive.
_HOLDER = """
local v = redis.call('GET', KEYS[1])
if not v then return nil end
local process = string.match(v, '[^|]*$')
return {v, redis.call('EXISTS', 'exam:process:' .. process)}
"""


async def holder(redis, attempt_id: int) -> Holder | None:
    """Who holds an attempt (None when no tab does)."""
    found = await redis.eval(_HOLDER, 1, owner_key(attempt_id))
    if not found:
        return None
    value, alive = found
    tab, sid, _ = value.split("|", 2) if value.count("|") >= 2 else (value, "", "")
    return Holder(tab=tab, sid=sid, connected=bool(alive))


async def beat_process(redis, process: str) -> None:
    """This server process is alive (and so is every socket it holds)."""
    await redis.set(process_key(process), 1, ex=PROCESS_TTL)


async def end_process(redis, process: str) -> None:
    """This server process stops: the papers its sockets held are free at once."""
    await redis.delete(process_key(process))


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
