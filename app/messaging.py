"""Pluggable SMS gateways, used by the worker. The default writes to the log.

A gateway is a class taking the Redis client and exposing ``async send(to, text)``.
``LogSender`` also keeps the last messages per recipient in Redis for a short while so
that a developer running the demo (and the test-suite) can read the code that was "sent".
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger("safece.messaging")
OUTBOX_TTL_SECONDS = 900


def outbox_key(to: str) -> str:
    return f"outbox:{to}"


class LogSender:
    """Writes each message to the log and to a short-lived Redis outbox."""

    def __init__(self, redis) -> None:
        self.redis = redis

    async def send(self, to: str, text: str) -> None:
        log.warning("SMS to %s: %s", to, text)
        key = outbox_key(to)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps({"to": to, "text": text}, ensure_ascii=False))
            pipe.ltrim(key, 0, 19)
            pipe.expire(key, OUTBOX_TTL_SECONDS)
            await pipe.execute()


async def read_outbox(redis, to: str) -> list[str]:
    """The texts most recently sent to a recipient by LogSender, newest first."""
    return [json.loads(item)["text"] for item in await redis.lrange(outbox_key(to), 0, -1)]
