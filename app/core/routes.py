"""Health check and the home redirect."""

from __future__ import annotations

import contextlib

from quart import Blueprint, Response, current_app, jsonify, redirect, url_for
from sqlalchemy import text

from app.accounts import auth
from app.core import access, liveness, monitoring
from app.errors import NotFound
from app.lib import metrics
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


@bp.get("/favicon.ico")
async def favicon():
    """The site's icon where a browser looks for it unasked: on a page that is not ours to
    name it (a PDF, an image, a JSON answer opened in a tab)."""
    response = await current_app.send_static_file("favicon.svg")
    response.cache_control.max_age = 86400
    return response


@bp.get("/metrics")
async def metrics_page():
    """The Prometheus metrics of every process of this machine, for this machine or the
    holder of the metrics token; anyone else finds no such page."""
    svc = services()
    if not access.is_operator(svc.config):
        raise NotFound()
    body = metrics.render(await monitoring.scrape(svc))
    return Response(body, content_type=metrics.CONTENT_TYPE)


@bp.get("/")
async def home():
    """Send visitors to their landing page or to the login form."""
    user = auth.current_user()
    return redirect(auth.landing_url(user) if user else url_for("accounts.login"))
