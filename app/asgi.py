"""The ASGI entry: Socket.IO wrapped around the Quart app.

Serve with ``uvicorn --factory app.asgi:create_asgi``; nothing is built at import time.
"""

from __future__ import annotations

import socketio

from app import create_app
from app.config import Config
from realtime.server import create_sio


def create_asgi(config: Config | None = None) -> socketio.ASGIApp:
    """Build the Quart app and the Socket.IO server around it."""
    app = create_app(config)
    sio = create_sio(app.extensions["safece"])
    app.extensions["sio"] = sio
    return socketio.ASGIApp(sio, app)
