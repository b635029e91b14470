"""The Socket.IO server: every connection is authenticated with the web session, and only
pages of this site's own origin(s) may open one (``Config.allowed_origins``).

Events emitted in one process reach sockets held by another through Redis
(``AsyncRedisManager``). Domain namespaces register themselves in ``create_sio``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import types

import socketio

from app.lib import http
from app.services import SIO_CHANNEL, Services
from realtime import exam, proctor
from realtime.auth import SessionNamespace
from realtime.sessions import SessionWatch
from realtime.study import StudyNamespace

log = logging.getLogger("safece.realtime")
# How long engine.io's ping checker gets to stop when the server stops.
SHUTDOWN_SECONDS = 3


class Packet(socketio.packet.Packet):
    """Socket.IO packets whose absurd integers decode as +/-inf.

    The stock decoder (engineio.json) raises on an integer over 100 digits, and the packet
    is dropped without a word: the page never gets its acknowledgement. Read as infinities,
    such values reach the handlers, whose checks answer ``bad_request``."""

    json = types.SimpleNamespace(dumps=json.dumps, loads=http.loads)


class RootNamespace(SessionNamespace):
    """The default namespace only checks who is connecting."""

    async def on_connect(self, sid, environ, auth=None):
        await self.admit(sid, environ)


def create_sio(svc: Services) -> socketio.AsyncServer:
    """Build the server with the Redis client manager and the namespaces."""
    manager = socketio.AsyncRedisManager(svc.config.redis_url, channel=SIO_CHANNEL)
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        # Only pages of this site may open a socket (a page elsewhere, or a sandboxed one
        # with Origin "null", would ride on the learner's cookie). Read at each handshake,
        # so a configuration change needs no new server object.
        cors_allowed_origins=lambda origin: origin in svc.config.allowed_origins,
        ping_interval=25,
        ping_timeout=20,
        max_http_buffer_size=64 * 1024,
        serializer=Packet,
    )
    sio.safece = svc
    # Closes sockets whose web session ended; started with the server (app.asgi).
    sio.session_watch = watch = SessionWatch(
        svc, lambda sid, namespace: sio.disconnect(sid, namespace=namespace)
    )
    sio.register_namespace(RootNamespace("/", svc, watch))
    # Each area's namespace registers its handlers here.
    sio.register_namespace(StudyNamespace(svc, watch))
    sio.exam = exam.register(sio, svc, watch)
    proctor.register(sio, svc, watch)
    # Events told after a commit in this process reach pages through this server.
    svc.emitter = sio
    return sio


async def start(sio: socketio.AsyncServer) -> None:
    """Start a server process's background work: closing sockets of ended sessions, and
    telling other processes that the exam tabs this one holds are still connected."""
    sio.session_watch.start()
    await sio.exam.presence.start()


async def stop(sio: socketio.AsyncServer) -> None:
    """Stop it (a clean shutdown frees the papers this process's tabs held at once)."""
    await sio.session_watch.stop()
    await sio.exam.marks.close()
    await sio.exam.writer.close()
    await sio.exam.presence.stop()
    await _stop_background(sio)


async def _stop_background(sio: socketio.AsyncServer) -> None:
    """Stop what the server runs in the background once the web server stopped serving:
    engine.io's ping checker and the Redis listener, which python-socketio leaves running
    (in the tests' shared event loop, one more of each per server that ever ran).

    The ping checker may be inside a slow close of a socket whose client is gone (seen:
    ~30 s on a loaded machine), so it gets a few seconds and is then cancelled."""
    try:
        await asyncio.wait_for(sio.shutdown(), timeout=SHUTDOWN_SECONDS)
    except TimeoutError:
        log.warning("engine.io's ping checker did not stop in %s s; cancelled", SHUTDOWN_SECONDS)
    manager = sio.manager
    listener = getattr(manager, "thread", None)
    if listener is not None:
        listener.cancel()
        await asyncio.wait([listener])
    if manager.pubsub is not None:
        await manager.pubsub.aclose()
    if manager.redis is not None:
        await manager.redis.aclose()
