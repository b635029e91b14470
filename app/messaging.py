"""Pluggable SMS gateways and mail senders, used by the worker. The defaults write to the log.

A gateway is a class taking the Redis client and exposing ``async send(to, text)``; a mail
sender likewise exposes ``async send(to, subject, text)`` (``SAFECE_MAIL_SENDER``).
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


def mailbox_key(to: str) -> str:
    return f"mailbox:{to.lower()}"


class LogMailSender:
    """Writes each e-mail to the log and to a short-lived Redis mailbox (for the demo and
    the tests, which read the link that was "sent")."""

    def __init__(self, redis) -> None:
        self.redis = redis

    async def send(self, to: str, subject: str, text: str) -> None:
        log.warning("MAIL to %s: %s\n%s", to, subject, text)
        key = mailbox_key(to)
        item = json.dumps({"to": to, "subject": subject, "text": text}, ensure_ascii=False)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, item)
            pipe.ltrim(key, 0, 19)
            pipe.expire(key, OUTBOX_TTL_SECONDS)
            await pipe.execute()


async def read_mailbox(redis, to: str) -> list[dict[str, str]]:
    """The e-mails most recently sent to an address by LogMailSender, newest first."""
    return [json.loads(item) for item in await redis.lrange(mailbox_key(to), 0, -1)]
