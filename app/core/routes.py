"""Health check and the home redirect."""

from __future__ import annotations

import contextlib

from quart import Blueprint, jsonify, redirect, url_for
from sqlalchemy import text

from app.accounts import auth
from app.core import access, liveness
from app.services import services

bp = Blueprint("core", __name__)


@bp.get("/healthz")
async def healthz():
    """Report whether the database and Redis answer; to an operator (this machine, the
    metrics token, an admin's session) also which server and worker processes are alive
    (their heartbeats in Redis: host names and pids) and which process answered."""
    svc = services()
    checks = {"database": False, "redis": False}
    # A health check reports failures; it does not raise them.
    with contextlib.suppress(Exception):
        async with svc.db.read() as db:
            await db.execute(text("SELECT 1"))
        checks["database"] = True
    with contextlib.suppress(Exception):
        checks["redis"] = bool(await svc.redis.ping())
    ok = all(checks.values())
    body: dict[str, object] = {"ok": ok, **checks}
    if access.is_operator(svc.config) or await access.is_admin_session(svc):
        alive: dict[str, list[str]] = {}
        with contextlib.suppress(Exception):
            alive = await liveness.alive(svc.redis)
        body |= {
            "servers": alive.get("server", []),
            "workers": alive.get("worker", []),
            "served_by": liveness.identity(),
        }
    return jsonify(body), 200 if ok else 503


@bp.get("/")
async def home():
    """Send visitors to their landing page or to the login form."""
    user = auth.current_user()
    return redirect(auth.landing_url(user) if user else url_for("accounts.login"))
