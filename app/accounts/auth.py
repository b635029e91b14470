"""Who is asking: the session and user of the current request, and permission checks."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable

from quart import current_app, g, redirect, request, url_for

from app.accounts import captcha, sessions
from app.accounts.models import User
from app.errors import AppError, Forbidden
from app.lib import net
from app.services import services

# Endpoints a session that still has to change its initial password may reach.
BEFORE_PASSWORD_CHANGE = {
    "accounts.change_password",
    "accounts.change_password_post",
    "accounts.logout",
    "accounts.captcha",
    "accounts.login",
    "accounts.login_post",
    "core.healthz",
    "static",
}


def current_user() -> User | None:
    return g.get("user")


def current_session() -> sessions.Session | None:
    return g.get("session")


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def client_ip(hops: int) -> str:
    """The caller's address, behind ``hops`` proxies of our own (app/lib/net.py)."""
    return net.client_ip(request.remote_addr, request.headers.getlist("X-Forwarded-For"), hops)


def request_ip() -> str:
    """This request's client address, behind the proxies the configuration trusts."""
    return client_ip(services().config.trust_proxy)


def is_https(hops: int) -> bool:
    """Whether the caller reached us over HTTPS (as our outermost proxy says, if any)."""
    return net.is_https(request.scheme, request.headers.getlist("X-Forwarded-Proto"), hops)


def check_csrf() -> None:
    """Refuse a state-changing request whose CSRF token does not match the session's."""
    session = current_session()
    if session is None:
        raise AppError("csrf", "页面已过期，请刷新页面后重试", 400)
    sent = request.headers.get("X-CSRF-Token") or g.get("form_csrf") or ""
    if not secrets.compare_digest(sent, session.csrf):
        raise AppError("csrf", "页面已过期，请刷新页面后重试", 400)


def login_required(view: Callable) -> Callable:
    """Send anonymous visitors to the login page (or answer 401 to API calls)."""

    @functools.wraps(view)
    async def wrapper(*args, **kwargs):
        if current_user() is None:
            if wants_json():
                raise AppError("login_required", "登录已失效，请重新登录", 401)
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        return await view(*args, **kwargs)

    return wrapper


def require_role(*roles: str) -> Callable:
    """Allow only users holding one of these roles; others get 403."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        @login_required
        async def wrapper(*args, **kwargs):
            if not current_user().has_role(*roles):
                raise Forbidden()
            return await view(*args, **kwargs)

        return wrapper

    return decorator


async def new_captcha() -> dict[str, str]:
    """A captcha for this visitor, unless their address asks for too many: every form that
    shows one (login, 设置密码, 忘了密码, the refresh-on-click) takes it from here."""
    svc = services()
    now = svc.now().timestamp()
    ip = client_ip(svc.config.trust_proxy)
    await captcha.allow(svc.redis, ip, now=now, per_minute=svc.config.captcha_per_ip_minute)
    return await captcha.issue(svc.redis, now=now, ttl=svc.config.captcha_ttl_seconds)


async def ensure_session() -> sessions.Session:
    """The visitor's session, starting an anonymous one (for the CSRF token) if needed."""
    if g.get("session") is None:
        svc = services()
        g.session = await sessions.create(
            svc.redis,
            user_id=None,
            must_change=False,
            ttl_seconds=svc.config.anonymous_session_minutes * 60,
            max_seconds=svc.config.session_max_hours * 3600,
            now=svc.now().timestamp(),
        )
        g.set_cookie = g.session.token
    return g.session


async def start_session(user: User) -> sessions.Session:
    """Sign this browser in as ``user`` with a fresh session (a new token: no fixation)."""
    svc = services()
    if g.get("session") is not None:
        await sessions.revoke(svc.redis, g.session)
    g.session = await sessions.create(
        svc.redis,
        user_id=user.id,
        must_change=user.must_change_password,
        ttl_seconds=svc.config.session_idle_minutes * 60,
        max_seconds=svc.config.session_max_hours * 3600,
        now=svc.now().timestamp(),
    )
    g.set_cookie = g.session.token
    g.user = user
    return g.session


# Each role's own work page, in order: a user lands on the first one their roles have.
# Learners start on 我的资料 (phone and ID photo come first). A page another area has not
# built is skipped.
LANDING_PAGES = (
    ("learner", "profile.index"),
    ("invigilator", "invigilate.index"),
    ("admin", "admin.index"),
    ("reviewer", "review.queue"),
    ("final_reviewer", "review.queue"),
    ("registrant", "registration.home"),
)


def landing_url(user: User) -> str:
    """Where a user goes after logging in: the first work page their roles have."""
    pages = current_app.view_functions
    endpoint = next(
        (e for role, e in LANDING_PAGES if user.has_role(role) and e in pages), "profile.index"
    )
    return url_for(endpoint)
