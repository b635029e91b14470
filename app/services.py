"""The shared resources of one process: config, database, Redis, clock, senders, emitter.

The web app, the Socket.IO server, the arq worker and the CLI each build one container
through ``build_services`` so they all talk to the same stores in the same way.

The emitter pushes Socket.IO events to pages held by any server process: in a web process
it is the Socket.IO server itself (set by ``app.asgi``); elsewhere (worker, CLI, a bare
Quart app) a write-only ``AsyncRedisManager`` that publishes on the servers' channel.
"""

from __future__ import annotations

import dataclasses
import importlib

import redis.asyncio as aioredis
import socketio
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from quart import current_app

from app.clock import SystemClock
from app.config import Config
from app.db import Database
from app.events import dispatch
from app.lib import crypto, redis_pool

# The Redis pub/sub channel on which Socket.IO servers and write-only emitters meet.
SIO_CHANNEL = "safece-sio"


@dataclasses.dataclass
class Services:
    config: Config
    db: Database
    redis: aioredis.Redis
    clock: object
    sms: object
    mail: object
    _queue: ArqRedis | None = None
    emitter: object | None = None

    def now(self):
        return self.clock.now()

    async def emit(
        self,
        event: str,
        data: object,
        *,
        namespace: str,
        room: str | None = None,
        to: str | None = None,
    ) -> None:
        """Push an event to the sockets in a room (or to one socket) in any process."""
        if self.emitter is None:
            self.emitter = socketio.AsyncRedisManager(
                self.config.redis_url, channel=SIO_CHANNEL, write_only=True
            )
        await self.emitter.emit(event, data, namespace=namespace, room=room, to=to)

    async def enqueue(self, job: str, *args: object, **kwargs: object):
        """Queue an arq job for the worker."""
        if self._queue is None:
            self._queue = await create_pool(RedisSettings.from_dsn(self.config.redis_url))
        return await self._queue.enqueue_job(job, *args, **kwargs)

    async def close(self) -> None:
        if self._queue is not None:
            await self._queue.aclose()
        if isinstance(self.emitter, socketio.AsyncRedisManager) and self.emitter.redis:
            await self.emitter.redis.aclose()
        await self.redis.aclose()
        await self.db.dispose()


def load_object(dotted: str) -> object:
    """Import ``package.module:Name``."""
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


def build_services(config: Config) -> Services:
    """Create the per-process resources for a configuration."""
    crypto.install(config)  # personal data at rest: the keys, from outside the database
    redis = redis_pool.connect(config.redis_url, decode_responses=True)
    gateway = load_object(config.sms_gateway)
    svc = Services(
        config=config,
        db=Database(config.database_url, pgbouncer=config.pgbouncer),
        redis=redis,
        clock=config.clock or SystemClock(),
        sms=gateway(redis),
        mail=load_object(config.mail_sender)(redis),
    )
    svc.db.dispatch = lambda events: dispatch(svc, events)
    return svc


def services() -> Services:
    """The container of the running Quart app."""
    return current_app.extensions["safece"]
