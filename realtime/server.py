"""The Socket.IO server: every connection is authenticated with the web session.

Events emitted in one process reach sockets held by another through Redis
(``AsyncRedisManager``). Domain namespaces register themselves in ``create_sio``.
"""

from __future__ import annotations

import asyncio

import socketio

from app.services import SIO_CHANNEL, Services
from realtime import exam, proctor
from realtime.auth import authenticate
from realtime.study import StudyNamespace


def create_sio(svc: Services) -> socketio.AsyncServer:
    """Build the server with the Redis client manager and the namespaces."""
    manager = socketio.AsyncRedisManager(svc.config.redis_url, channel=SIO_CHANNEL)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins=[],
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=64 * 1024,
    )
    sio.safece = svc

    @sio.on("connect")
    async def connect(sid, environ, auth=None):
        """The default namespace only checks who is connecting."""
        user = await authenticate(svc, environ)
        await sio.save_session(sid, {"user_id": user.id})

    # Each area's namespace registers its handlers here.
    sio.register_namespace(StudyNamespace(svc))
    exam.register(sio, svc)
    proctor.register(sio, svc)
    # Events told after a commit in this process reach pages through this server.
    svc.emitter = sio
    return sio


async def stop_sio(sio: socketio.AsyncServer) -> None:
    """Stop what the server runs in the background once the web server stopped serving:
    engine.io's ping checker and the Redis listener, which python-socketio leaves running
    (in the tests' shared event loop, one more of each per server that ever ran)."""
    await sio.shutdown()
    manager = sio.manager
    listener = getattr(manager, "thread", None)
    if listener is not None:
        listener.cancel()
        await asyncio.wait([listener])
    if manager.pubsub is not None:
        await manager.pubsub.aclose()
    if manager.redis is not None:
        await manager.redis.aclose()
