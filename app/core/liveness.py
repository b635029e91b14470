"""Which server and worker processes are alive, for /healthz: each keeps a key in Redis.

A process writes ``health:process:<kind>:<host>:<pid>`` every ``BEAT`` seconds with a
``TTL``-second expiry and lists itself in the set ``health:processes``. One that stops
cleanly removes its key at once; one that was killed drops out within ``TTL`` seconds.
"""

from __future__ import annotations

import os
import socket

from app.lib import metrics
from app.lib.periodic import Periodic

BEAT = 3  # seconds between heartbeats
TTL = 10  # seconds a process counts as alive after its last heartbeat
INDEX = "health:processes"


def identity() -> str:
    """This process, as healthz names it: ``<host>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _key(member: str) -> str:
    return f"health:process:{member}"


async def beat(redis, member: str) -> None:
    """``member`` (``<kind>:<host>:<pid>``) is alive for another TTL seconds (the round
    trip is the process's ``safece_redis_round_trip_seconds``)."""
    with metrics.timed_redis(member.partition(":")[0]):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(_key(member), 1, ex=TTL)
            pipe.sadd(INDEX, member)
            await pipe.execute()


async def end(redis, member: str) -> None:
    """``member`` stopped."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(_key(member))
        pipe.srem(INDEX, member)
        await pipe.execute()


async def alive(redis) -> dict[str, list[str]]:
    """Kind (``server``, ``worker``) -> the ``<host>:<pid>`` of each live process."""
    members = sorted(await redis.smembers(INDEX))
    if not members:
        return {}
    values = await redis.mget([_key(member) for member in members])
    found: dict[str, list[str]] = {}
    dead = []
    for member, value in zip(members, values, strict=True):
        if value is None:
            dead.append(member)
        else:
            kind, _, name = member.partition(":")
            found.setdefault(kind, []).append(name)
    if dead:
        # A process beating again at this instant is listed again by its next beat.
        await redis.srem(INDEX, *dead)
    return found


class Heartbeat(Periodic):
    """Beats for this process every BEAT seconds while started."""

    def __init__(self, redis, kind: str) -> None:
        self.redis = redis
        self.member = f"{kind}:{identity()}"
        super().__init__(
            lambda: beat(redis, self.member), lambda: end(redis, self.member), BEAT, "heartbeat"
        )
