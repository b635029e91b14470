"""The dashboard's live state in Redis, shared by every process.

A change to a learner's row (an answer saved, a join, a focus loss, a close...) only adds
the learner to the session's dirty set (``SADD``, nothing else, so 3,000 autosaves every
5 s stay cheap). One process per watched session, the holder of its lease, takes the set
every few hundred milliseconds, re-reads those rows and pushes them as one delta with the
session's next version number (``realtime/proctor.py``). The lease keeps deltas of one
session coming from one process, in order; if its holder dies the lease expires and
another process with watchers of that session takes over.
"""

from __future__ import annotations

from collections.abc import Iterable

NAMESPACE = "/proctor"
LEASE_MS = 3000


def room(session_id: int) -> str:
    """The /proctor room of a session's dashboards."""
    return f"session:{session_id}"


def dirty_key(session_id: int) -> str:
    return f"proctor:dirty:{session_id}"


def version_key(session_id: int) -> str:
    return f"proctor:version:{session_id}"


def lease_key(session_id: int) -> str:
    return f"proctor:lease:{session_id}"


def watchers_key(session_id: int) -> str:
    """Hash of the dashboard sockets watching a session: sid -> invigilator's user id."""
    return f"proctor:watchers:{session_id}"


async def mark_dirty(redis, session_id: int | None, user_ids: Iterable[int]) -> None:
    """These learners' rows changed: the next delta of the session carries them."""
    users = list(user_ids)
    if session_id is not None and users:
        await redis.sadd(dirty_key(session_id), *users)


async def version(redis, session_id: int) -> int:
    """The version of the last delta pushed for a session (0 before the first)."""
    return int(await redis.get(version_key(session_id)) or 0)


# Hold (or take) the session's lease; if held, take the dirty set and, when it was not
# empty, the next version number. Returns nil when another process holds the lease.
TAKE = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2])
elseif not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
else return nil end
local members = redis.call('smembers', KEYS[2])
if #members == 0 then return {0, {}} end
redis.call('del', KEYS[2])
return {redis.call('incr', KEYS[3]), members}
"""

RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
