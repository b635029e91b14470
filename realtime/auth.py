"""Who is behind a Socket.IO connection, and the error replies every namespace gives.

Every connection is authenticated with the web session cookie sent with the handshake. A
refused handshake carries ``{code, message}`` (docs/realtime.md): python-socketio sends
``ConnectionRefusedError(message, data)`` as ``{"message": message, "data": data}``, which
the browser client hands to ``connect_error`` as ``err.message`` and ``err.data``.

Namespaces derive from ``SessionNamespace``: a socket is admitted with its session
(``admit``), every event first checks that the session is still alive, and the socket is
closed when the session ends (realtime/sessions.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import http.cookies
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import socketio

from app.accounts import service as accounts
from app.accounts import sessions
from app.errors import BUSY_MESSAGE, STORES_UNAVAILABLE, AppError
from app.lib import logs
from app.services import Services
from realtime.sessions import SessionWatch

if TYPE_CHECKING:
    from app.accounts.models import User

log = logging.getLogger("safece.realtime")

LOGIN_REQUIRED = "登录已失效，请重新登录"
BUSY = "系统繁忙，正在重新连接……"
ADMIT_TRIES = 3


def refuse(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """A handshake refusal that reaches the page as ``err.data = {code, message}``."""
    return socketio.exceptions.ConnectionRefusedError(message, {"code": code, "message": message})


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


@dataclasses.dataclass(frozen=True)
class Identity:
    user: User
    session: sessions.Session


async def identify(svc: Services, environ: dict, *roles: str) -> Identity:
    """The user and session behind a handshake, or a refusal with a code and a reason."""
    try:
        session = await sessions.load(
            svc.redis, session_token_from_environ(environ), now=svc.now().timestamp()
        )
        user = None
        if session is not None and session.user_id is not None:
            async with svc.db.read(quick=True) as db:
                user = await accounts.get(session=db, user_id=session.user_id)
    except Exception:
        # Redis or the database is unavailable: the page retries on its own.
        log.exception("handshake could not be checked")
        raise refuse("busy", BUSY) from None
    if session is None or session.user_id is None:
        raise refuse("login_required", LOGIN_REQUIRED)
    if session.must_change_password:
        raise refuse("must_change_password", "首次登录请先修改初始密码")
    if user is None or not user.is_active:
        raise refuse("login_required", LOGIN_REQUIRED)
    if roles and not user.has_role(*roles):
        raise refuse("forbidden", "您没有权限进行该操作")
    return Identity(user, session)


async def authenticate(svc: Services, environ: dict, *roles: str) -> User:
    """The user behind a handshake, or ConnectionRefusedError (with a code and a reason)."""
    return (await identify(svc, environ, *roles)).user


class SessionNamespace(socketio.AsyncNamespace):
    """A namespace whose sockets live only as long as their web session."""

    ROLES: tuple[str, ...] = ()

    def __init__(self, namespace: str, svc: Services, watch: SessionWatch) -> None:
        super().__init__(namespace)
        self.svc = svc
        self.watch = watch

    async def admit(self, sid: str, environ: dict, **fields: object) -> User:
        """Authenticate a handshake, remember the socket under its session, save fields.

        A message that ended the session or changed the user's rights while the handshake
        was being checked closed no socket of it (it was not yet known): it is checked
        again, and refused as it now must be."""
        for _ in range(ADMIT_TRIES):
            mark = self.watch.heard
            identity = await identify(self.svc, environ, *self.ROLES)
            await self.save_session(sid, {"user_id": identity.user.id, **fields})
            self.watch.add(sid, self.namespace, identity.session)
            if not self.watch.heard_since(mark, identity.session):
                return identity.user
            self.watch.discard(sid, self.namespace)
        raise refuse("busy", BUSY)

    async def trigger_event(self, event: str, *args):
        # Each event runs in a task of its own: its log lines name it (app/lib/logs.py).
        socket = self.watch.sockets.get((args[0], self.namespace)) if args else None
        logs.bind(
            event=f"{self.namespace} {event}",
            sid=args[0] if args else None,
            user_id=socket.user_id if socket is not None else None,
        )
        if event not in ("connect", "disconnect"):
            sid = args[0]
            try:
                alive = await self.watch.alive(sid, self.namespace)
            except Exception:
                log.warning("session check failed for %s on %s", event, self.namespace)
                return {"ok": False, "code": "busy", "message": "系统繁忙，请稍后重试"}
            if not alive:
                # Closed just after the refusal is on its way, so the page learns why.
                asyncio.get_running_loop().call_later(
                    0.1, lambda: asyncio.ensure_future(self.watch.close({(sid, self.namespace)}))
                )
                return {"ok": False, "code": "login_required", "message": LOGIN_REQUIRED}
        try:
            return await super().trigger_event(event, *args)
        finally:
            if event == "disconnect":
                self.watch.discard(args[0], self.namespace)


def replies_errors(handler: Callable) -> Callable:
    """Turn AppError, an unreachable Redis or database (``busy``: the page tries again)
    and anything unexpected (``internal``) into a ``{"code", "message"}`` reply."""

    @functools.wraps(handler)
    async def wrapper(*args, **kwargs):
        try:
            return await handler(*args, **kwargs)
        except AppError as error:
            return {"ok": False, **error.to_dict()}
        except STORES_UNAVAILABLE as error:
            log.warning("socket handler %s: store unavailable (%s)", handler.__name__, error)
            return {"ok": False, "code": "busy", "message": BUSY_MESSAGE}
        except Exception:
            log.exception("socket handler %s failed", handler.__name__)
            return {"ok": False, "code": "internal", "message": "系统繁忙，请稍后再试"}

    return wrapper
