"""The ASGI entry: Socket.IO wrapped around the Quart app.

Serve with ``uvicorn --factory app.asgi:serve``; nothing is built at import time.
"""

from __future__ import annotations

import gc
import sys

import socketio
from quart import Quart

from app import create_app
from app.config import Config
from app.core import liveness
from app.learning.writer import CreditFlusher
from app.lib import metrics, profiling
from realtime import server as realtime_server

# A server process holding thousands of sockets keeps close to a million tracked objects
# alive, and with CPython's default thresholds (700, 10, 10) a full collection of them ran
# every ~20 s and stopped the event loop for 350-450 ms: every autosave in flight waited
# (bench/exam_load.py at 3,000 clients: p99 180-590 ms). A large first threshold lets the
# short-lived objects of a request or an event die before they are ever promoted, so the
# old generation grows slowly and full collections become rare.
# Even a young collection walks every live object made since the last one, and each socket
# keeps some 70 of those (engine.io's reader and writer waits, ping timers, renewed with
# every message): at 3,000 sockets a young collection took 150-250 ms, every ~20 s with a
# first threshold of 50,000. At 200,000 it comes every ~80 s and takes little longer (the
# same live objects, plus the cycles that died meanwhile), so it touches a quarter as many
# acknowledgements: under 1 % of them, which keeps it out of the p99.
GC_THRESHOLDS = (200_000, 50, 100)


def tune_gc() -> None:
    """Freeze what start-up built (modules, the app) and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_study_flusher(app: Quart) -> None:
    """While the server serves, write acknowledged study credits from Redis to the database
    (docs/realtime.md: every server process runs one unless SAFECE_STUDY_FLUSHER=0)."""
    svc = app.extensions["safece"]

    @app.before_serving
    async def _start() -> None:
        if svc.db.is_sqlite:
            # aiosqlite runs every statement in a thread that needs the interpreter back;
            # with a busy event loop each of those hand-overs waits out the switch interval
            # (5 ms by default), which made one play-session start take ~50 ms under load.
            sys.setswitchinterval(0.001)
        if svc.config.study_flusher:
            flusher = CreditFlusher(
                redis_url=svc.config.redis_url,
                database_url=svc.config.database_url,
                pgbouncer=svc.config.pgbouncer,
            )
            app.extensions["study_flusher"] = flusher
            flusher.start()

    @app.after_serving
    async def _stop() -> None:
        flusher = app.extensions.pop("study_flusher", None)
        if flusher is not None:
            await flusher.stop()


def run_realtime(app: Quart, sio: socketio.AsyncServer) -> None:
    """While the server serves, close sockets whose web session ended and tell other
    processes that this one's exam tabs are connected (realtime/server.py)."""

    @app.before_serving
    async def _start() -> None:
        await realtime_server.start(sio)

    @app.after_serving
    async def _stop() -> None:
        await realtime_server.stop(sio)


def run_heartbeat(app: Quart) -> None:
    """While the server serves, tell /healthz (any process's) that this one is alive."""
    heartbeat = liveness.Heartbeat(app.extensions["safece"].redis, "server")
    app.before_serving(heartbeat.start)
    app.after_serving(heartbeat.stop)


def run_metrics(app: Quart) -> None:
    """While the server serves, record what /metrics reports of this process (the event
    loop's lag, the database pool, the profiling points of app/lib/profiling.py)."""
    recorder = metrics.Recorder("server", [app.extensions["safece"].db])

    @app.before_serving
    async def _start() -> None:
        recorder.start()

    @app.after_serving
    async def _stop() -> None:
        await recorder.stop()
        metrics.process_stopped()


def run_profile(app: Quart) -> None:
    """With SAFECE_PROFILE set, report where this process's time goes each second."""
    svc = app.extensions["safece"]
    if not svc.config.profile:
        return
    database = svc.db.engine.url.database if svc.db.is_sqlite else None
    profile = profiling.Profile(svc.config.profile, database)

    @app.before_serving
    async def _start() -> None:
        profile.start()

    app.after_serving(profile.stop)


def create_asgi(config: Config | None = None) -> socketio.ASGIApp:
    """Build the Quart app and the Socket.IO server around it."""
    app = create_app(config)
    run_metrics(app)
    run_profile(app)
    run_study_flusher(app)
    sio = app.extensions["sio"] = realtime_server.create_sio(app.extensions["safece"])
    run_realtime(app, sio)
    run_heartbeat(app)
    return socketio.ASGIApp(sio, app)


def serve() -> socketio.ASGIApp:
    """The uvicorn factory of a server process: the app from the environment, GC tuned."""
    asgi = create_asgi()
    tune_gc()
    return asgi
