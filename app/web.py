"""Request hooks shared by every page: session loading, CSRF, the password-change gate,
error rendering and the template context (header, navigation)."""

from __future__ import annotations

import logging
import re
import secrets
import time

from quart import Quart, current_app, g, jsonify, redirect, render_template, request, url_for
from quart.wrappers import Body, Request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app.accounts import auth, sessions, tour
from app.accounts.models import User
from app.clock import duration_text, shanghai_text
from app.errors import BUSY_MESSAGE, STORES_UNAVAILABLE, AppError
from app.lib import admin_menu, http, logs, metrics
from app.services import services

log = logging.getLogger("safece.web")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# (label, endpoint, roles that see it). An entry shows only once its page exists.
NAVIGATION = (
    (
        "我的资料",
        "profile.index",
        ("learner", "invigilator", "admin", "reviewer", "final_reviewer", "registrant"),
    ),
    ("我的课程", "learning.courses", ("learner",)),
    ("我的考试", "exams.index", ("learner",)),
    ("考试记录", "exams.records", ("learner",)),
    ("我的证书", "certificates.index", ("learner",)),
    ("注册管理", "registration.home", ("registrant", "learner")),
    ("审核", "review.queue", ("reviewer", "final_reviewer")),
    ("监考", "invigilate.index", ("invigilator", "admin")),
    ("管理", "admin.index", ("admin",)),
)


class LimitedBody(Body):
    """A request body whose size limit a route may lower once it is known which route it is."""

    def limit(self, max_bytes: int) -> int | None:
        """Take in at most ``max_bytes``; the bytes already taken in if that is more."""
        self._max_content_length = max_bytes
        if len(self._data) > max_bytes:
            if self._must_raise is None:
                self._must_raise = RequestEntityTooLarge()
                self.set_complete()
            return len(self._data)
        return None


class LimitedRequest(Request):
    body_class = LimitedBody


def install(app: Quart) -> None:
    """Attach the hooks, error handlers and template context to the app."""
    app.request_class = LimitedRequest
    app.before_request(_begin)
    app.before_request(_limit_body)
    app.before_request(_load_session)
    app.after_request(_finish_response)
    app.after_request(_count)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(HTTPException, _http_error)
    for unavailable in STORES_UNAVAILABLE:
        app.register_error_handler(unavailable, _store_unavailable)
    app.register_error_handler(Exception, _unexpected_error)
    app.context_processor(_template_context)
    # Times are shown in Asia/Shanghai everywhere: {{ t|shanghai }} or {{ local_time(t, fmt) }}.
    app.add_template_filter(shanghai_text, "shanghai")
    app.add_template_global(shanghai_text, "local_time")
    app.add_template_filter(duration_text, "clock")
    # The admin side menu, for admin pages of any area (templates/admin/_layout.html).
    app.add_template_global(admin_menu.visible, "admin_sections")


# Served without looking up the session: no Redis or database round trip per asset.
SESSIONLESS_ENDPOINTS = {"static", "core.healthz", "core.metrics_page"}


def cap_body_size(app: Quart) -> None:
    """No request may be larger than the largest route limit (``app.lib.http.body_limit``);
    call once every route is registered."""
    limits = [getattr(view, "body_limit", 0) or 0 for view in app.view_functions.values()]
    app.config["MAX_CONTENT_LENGTH"] = max([http.FORM_LIMIT, http.JSON_LIMIT, *limits])


# A request id our own proxy passes on (nginx: ``proxy_set_header X-Request-Id
# $request_id``) is kept, so that its log and ours name the same request.
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


async def _begin() -> None:
    """Start the request's clock and its log context (request id, route)."""
    g.began = time.perf_counter()
    sent = request.headers.get("X-Request-Id", "")
    trusted = services().config.trust_proxy > 0 and REQUEST_ID.match(sent)
    g.request_id = sent if trusted else secrets.token_hex(8)
    logs.bind(request_id=g.request_id, route=f"{request.method} {_route()}")


def _route() -> str:
    """The URL rule the request matched (``/exams/attempts/<int:attempt_id>``): a bounded
    set of names, unlike paths."""
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


async def _count(response):
    """Count the request by route, method and status (safece_http_requests) and time it."""
    method = request.method if request.method in METHODS else "OTHER"
    metrics.HTTP_REQUESTS.labels(_route(), method, str(response.status_code)).inc()
    if "began" in g:
        metrics.HTTP_SECONDS.observe(time.perf_counter() - g.began)
    if "request_id" in g:
        response.headers.setdefault("X-Request-Id", g.request_id)
    return response


async def _limit_body() -> None:
    """Refuse a body larger than its route accepts before reading any of it (413)."""
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    limit, message = http.limit_of(view, request.mimetype)
    size = request.content_length
    if size is None or size <= limit:
        # A body without Content-Length (chunked) stops being taken in at the limit.
        size = request.body.limit(limit)
    if size is not None and size > limit:
        text = (message or "提交的内容超过 {limit} 的上限").format(
            size=http.size_text(size), limit=http.size_text(limit)
        )
        raise AppError("too_large", text, 413)


async def _load_session() -> object:
    g.session = g.user = None
    if request.endpoint in SESSIONLESS_ENDPOINTS:
        return None
    svc = services()
    ttl = svc.config.session_idle_minutes * 60
    token = request.cookies.get(sessions.COOKIE_NAME)
    session = await sessions.load(svc.redis, token, ttl_seconds=ttl, now=svc.now().timestamp())
    g.session = session
    g.user = None
    if session and session.user_id is not None:
        async with svc.db.read(quick=True) as db:
            user = await db.get(User, session.user_id)
        if user is None or not user.is_active:
            await sessions.revoke(svc.redis, session)
            g.session = None
        else:
            g.user = user
            logs.bind_user(user.id)
    if request.method in UNSAFE_METHODS:
        await _read_form_csrf()
        auth.check_csrf()
    gated = g.session and g.session.must_change_password and g.user
    if gated and request.endpoint not in auth.BEFORE_PASSWORD_CHANGE:
        if auth.wants_json():
            raise AppError("must_change_password", "首次登录请先修改初始密码", 403)
        return redirect(url_for("accounts.change_password"))
    return None


FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _read_form_csrf() -> None:
    """The CSRF token of a form post, read from the body only when it can be right.

    A request with the X-CSRF-Token header (every script-made call) is judged on it alone.
    A form is parsed (within its route's limit) only for a visitor with a session, and a
    multipart one only for a signed-in user: a stranger cannot make the server parse it."""
    if request.headers.get("X-CSRF-Token") or request.mimetype not in FORMS:
        return
    if g.session is None or (request.mimetype == "multipart/form-data" and g.user is None):
        return  # check_csrf refuses it, the body unread
    g.form_csrf = (await request.form).get("csrf_token", "")


# Scripts only from this site's files (no inline script or handler, no eval): an injected
# <script> or onclick= does not run. Inline style attributes stay allowed (progress bars,
# and chart libraries writing tooltips); styles cannot run code. No page may be framed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000"


async def _finish_response(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if auth.is_https(services().config.trust_proxy):
        # Only over HTTPS: a browser must have reached the real site to be told to insist.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if g.get("user") is not None and response.mimetype == "text/html":
        # Personal pages must not be kept by shared caches or the back button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    if "set_cookie" in g:
        config = services().config
        secure = (
            auth.is_https(config.trust_proxy)
            if config.cookie_secure == "auto"
            else config.cookie_secure == "1"
        )
        if g.set_cookie:
            response.set_cookie(
                sessions.COOKIE_NAME, g.set_cookie, httponly=True, samesite="Lax", secure=secure
            )
        else:
            response.delete_cookie(
                sessions.COOKIE_NAME, httponly=True, samesite="Lax", secure=secure
            )
    return response


async def _render_error(status: int, code: str, message: str, **details: object):
    if auth.wants_json():
        return jsonify({"code": code, "message": message, **details}), status
    return await render_template("errors/error.html", status=status, message=message), status


async def _app_error(error: AppError):
    # A script reads the details (an upload's ``received`` offset, ``confirm``, the step of
    # an incomplete application, when an attention pause ends) as the socket replies carry them.
    return await _render_error(error.status, error.code, error.message, **error.details)


HTTP_MESSAGES = {
    404: "您访问的页面不存在",
    405: "不支持该操作",
    413: "提交的内容过大，未保存：请返回上一页，删减后重新提交",
    400: "请求格式不正确",
}


async def _http_error(error: HTTPException):
    message = HTTP_MESSAGES.get(error.code, "请求无法完成")
    return await _render_error(error.code or 500, f"http_{error.code}", message)


async def _store_unavailable(error: Exception):
    log.warning("store unavailable on %s %s: %s", request.method, request.path, error)
    return await _render_error(503, "busy", BUSY_MESSAGE)


async def _unexpected_error(error: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return await _render_error(500, "internal", "系统繁忙，请稍后再试；如问题持续，请联系客服")


async def _template_context() -> dict[str, object]:
    svc = services()
    user = g.get("user")
    nav = []
    if user is not None and not (g.session and g.session.must_change_password):
        endpoints = current_app.view_functions
        nav = [
            (label, url_for(endpoint))
            for label, endpoint, roles in NAVIGATION
            if endpoint in endpoints and user.has_role(*roles)
        ]
    session = g.get("session")
    return {
        "site": svc.config,
        "current_user": user,
        "nav": nav,
        "csrf_token": session.csrf if session else "",
        # What a plain form may send (static/js/app.js checks it before sending).
        "form_limit": http.FORM_LIMIT,
        "tour": tour.state(user, request.cookies),
        "tour_cookie": tour.COOKIE,
    }
