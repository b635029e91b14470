"""Request hooks shared by every page: session loading, CSRF, the password-change gate,
error rendering and the template context (header, navigation)."""

from __future__ import annotations

import logging

from quart import Quart, current_app, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from app.accounts import auth, sessions, tour
from app.accounts.models import User
from app.clock import duration_text, shanghai_text
from app.errors import AppError
from app.lib import admin_menu
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


def install(app: Quart) -> None:
    """Attach the hooks, error handlers and template context to the app."""
    app.before_request(_load_session)
    app.after_request(_finish_response)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.context_processor(_template_context)
    # Times are shown in Asia/Shanghai everywhere: {{ t|shanghai }} or {{ local_time(t, fmt) }}.
    app.add_template_filter(shanghai_text, "shanghai")
    app.add_template_global(shanghai_text, "local_time")
    app.add_template_filter(duration_text, "clock")
    # The admin side menu, for admin pages of any area (templates/admin/_layout.html).
    app.add_template_global(admin_menu.visible, "admin_sections")


# Served without looking up the session: no Redis or database round trip per asset.
SESSIONLESS_ENDPOINTS = {"static", "core.healthz"}


async def _load_session() -> object:
    g.session = g.user = None
    if request.endpoint in SESSIONLESS_ENDPOINTS:
        return None
    svc = services()
    ttl = svc.config.session_idle_minutes * 60
    token = request.cookies.get(sessions.COOKIE_NAME)
    session = await sessions.load(svc.redis, token, ttl_seconds=ttl)
    g.session = session
    g.user = None
    if session and session.user_id is not None:
        async with svc.db.read() as db:
            user = await db.get(User, session.user_id)
        if user is None or not user.is_active:
            await sessions.revoke(svc.redis, session)
            g.session = None
        else:
            g.user = user
    if request.method in UNSAFE_METHODS:
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            g.form_csrf = (await request.form).get("csrf_token", "")
        auth.check_csrf()
    gated = g.session and g.session.must_change_password and g.user
    if gated and request.endpoint not in auth.BEFORE_PASSWORD_CHANGE:
        if auth.wants_json():
            raise AppError("must_change_password", "首次登录请先修改初始密码", 403)
        return redirect(url_for("accounts.change_password"))
    return None


async def _finish_response(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if g.get("user") is not None and response.mimetype == "text/html":
        # Personal pages must not be kept by shared caches or the back button after logout.
        response.headers.setdefault("Cache-Control", "no-store")
    if "set_cookie" in g:
        config = services().config
        secure = (
            request.scheme == "https"
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


async def _render_error(status: int, code: str, message: str):
    if auth.wants_json():
        return jsonify({"code": code, "message": message}), status
    return await render_template("errors/error.html", status=status, message=message), status


async def _app_error(error: AppError):
    return await _render_error(error.status, error.code, error.message)


HTTP_MESSAGES = {
    404: "您访问的页面不存在",
    405: "不支持该操作",
    413: "上传的文件太大",
    400: "请求格式不正确",
}


async def _http_error(error: HTTPException):
    message = HTTP_MESSAGES.get(error.code, "请求无法完成")
    return await _render_error(error.code or 500, f"http_{error.code}", message)


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
        "tour": tour.state(user, request.cookies),
        "tour_cookie": tour.COOKIE,
    }
