"""Who is behind a Socket.IO connection, and the error replies every namespace gives.

Every connection is authenticated with the web session cookie sent with the handshake.
"""

from __future__ import annotations

import functools
import http.cookies
import logging
from collections.abc import Callable

import socketio

from app.accounts import sessions
from app.accounts.models import User
from app.errors import AppError
from app.services import Services

log = logging.getLogger("safece.realtime")


def session_token_from_environ(environ: dict) -> str | None:
    """The session cookie sent with the Socket.IO handshake."""
    raw = environ.get("HTTP_COOKIE", "")
    cookie = http.cookies.SimpleCookie()
    try:
        cookie.load(raw)
    except http.cookies.CookieError:
        return None
    morsel = cookie.get(sessions.COOKIE_NAME)
    return morsel.value if morsel else None


def refused(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A handshake refusal the page can read: ``err.message`` is the Chinese reason and
    ``err.data`` is ``{code, message}`` (a single dict argument would arrive as its repr)."""
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message})


async def authenticate(svc: Services, environ: dict, *roles: str) -> User:
    """The user behind a handshake, or ConnectionRefusedError (with a Chinese reason)."""
    session = await sessions.load(svc.redis, session_token_from_environ(environ))
    if session is None or session.user_id is None:
        raise refused("login_required", "登录已失效，请重新登录")
    if session.must_change_password:
        raise refused("must_change_password", "首次登录请先修改初始密码")
    async with svc.db.read() as db:
        user = await db.get(User, session.user_id)
    if user is None or not user.is_active:
        raise refused("login_required", "登录已失效，请重新登录")
    if roles and not user.has_role(*roles):
        raise refused("forbidden", "您没有权限进行该操作")
    return user


def replies_errors(handler: Callable) -> Callable:
    """Turn AppError (and anything unexpected) into a ``{"code", "message"}`` reply."""

    @functools.wraps(handler)
    async def wrapper(*args, **kwargs):
        try:
            return await handler(*args, **kwargs)
        except AppError as error:
            return {"ok": False, **error.to_dict()}
        except Exception:
            log.exception("socket handler %s failed", handler.__name__)
            return {"ok": False, "code": "internal", "message": "系统繁忙，请稍后再试"}

    return wrapper
