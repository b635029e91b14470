"""The dashboard's live state in Redis, shared by every process.

A change to a learner's row (an answer saved, a join, a focus loss, a close...) only adds
the learner to the session's dirty set (``SADD``, nothing else, so 3,000 autosaves every
5 s stay cheap). One process per watched session, the holder of its lease, takes the set
every few hundred milliseconds, re-reads those rows and pushes them as one delta with the
session's next version number (``realtime/proctor.py``). The lease keeps deltas of one
session coming from one process, in order; if its holder dies the lease expires and
another process with watchers of that session takes over.

The exam server gathers its marks (``Marks``) and sends them every MARK_SECONDS, one
pipelined ``SADD`` per session: a learner's acknowledgement does not wait for a Redis
round trip that only the dashboards need, and 600 saves a second become ten sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from app.lib import redis_scripts

log = logging.getLogger("safece.invigilation")

NAMESPACE = "/proctor"
LEASE_MS = 3000
MARK_SECONDS = 0.1
MARK_RETRY_SECONDS = 1.0  # while Redis does not answer


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


class Marks:
    """One process's dirty marks, sent to Redis together shortly after they are made."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self._pending: dict[int, set[int]] = {}
        self._task: asyncio.Task | None = None

    def add(self, session_id: int | None, user_ids: Iterable[int]) -> None:
        """Mark these learners' rows of a session (none outside a session)."""
        if session_id is None:
            return
        self._pending.setdefault(session_id, set()).update(user_ids)
        if self._task is None or self._task.done():
            # The task lives only while marks wait, so nothing lingers in a quiet process.
            self._task = asyncio.get_running_loop().create_task(self._sending())

    async def _sending(self) -> None:
        delay = MARK_SECONDS
        while self._pending:
            await asyncio.sleep(delay)
            delay = MARK_SECONDS if await self.flush() else MARK_RETRY_SECONDS

    async def flush(self) -> bool:
        """Send the marks gathered so far; False (and kept for the next try) if Redis
        did not take them."""
        pending, self._pending = self._pending, {}
        if not pending:
            return True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for session_id, users in pending.items():
                    pipe.sadd(dirty_key(session_id), *users)
                await pipe.execute()
        except Exception as error:  # Redis restarting: the marks wait, the saves do not
            log.warning("dashboard marks not sent (%s); trying again", error)
            for session_id, users in pending.items():
                self._pending.setdefault(session_id, set()).update(users)
            return False
        return True

    async def close(self) -> None:
        """Stop sending on a timer and send what is left (a server shutting down)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()


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

RELEASE = redis_scripts.COMPARE_AND_DELETE
