"""The Redis client of a process, with a connection pool that lets commands run at once.

redis-py 5.3 (the last line arq allows) hands out pooled connections under one lock per
pool, held while it checks that the connection has no stray data: a zero-timeout read
that always takes a turn of the event loop. So a process ran at most one Redis command
per loop turn, all others queued behind the lock: under 3,000 learners (an autosave marks
the invigilators' row, a join makes a dozen calls) that queue made the marks of one
answer take 150 ms and more, and the learners' acknowledgements waited for them
(redis-py issues 3692, 3842). Taking a connection from the pool is synchronous, so on one
event loop it needs no lock; each caller then checks its own connection, all at once.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis


class ConnectionPool(aioredis.ConnectionPool):
    """redis-py's pool, without the pool-wide lock around checking a connection."""

    async def get_connection(self, command_name=None, *keys: Any, **options: Any):
        connection = self.get_available_connection()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection


def connect(url: str, **options: Any) -> aioredis.Redis:
    """A client for ``url`` (``decode_responses`` and the like as for ``Redis.from_url``)."""
    return aioredis.Redis.from_pool(ConnectionPool.from_url(url, **options))
