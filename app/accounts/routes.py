"""Login, captcha, logout, change password and the guided tour flag."""

from __future__ import annotations

import logging

from quart import (
    Blueprint,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from app.accounts import auth, documents, service, sessions
from app.accounts.models import User
from app.errors import AppError
from app.lib import logs, metrics
from app.lib.http import local_path
from app.services import services

bp = Blueprint("accounts", __name__)
log = logging.getLogger("safece.accounts")

# Links under the login form: (label, endpoint, element id). One shows once its page exists.
ACCOUNT_LINKS = (
    ("设置密码", "registration_access.setup_password", "link-setup-password"),
    ("忘了密码？", "registration_access.forgot_password", "link-forgot-password"),
)


def _account_links() -> list[tuple[str, str, str]]:
    endpoints = current_app.view_functions
    return [(label, url_for(ep), id_) for label, ep, id_ in ACCOUNT_LINKS if ep in endpoints]


@bp.app_context_processor
async def _landing_context() -> dict[str, object]:
    """Every page knows the user's landing page: the first-visit tour shows there."""
    user = auth.current_user()
    return {"landing_path": auth.landing_url(user) if user is not None else None}


# The login page's tabs (guide of the registration system, §1(2)): the same form, with
# each system's hints; the applicants' tab has the 温馨提示 with 初始注册.
TABS = {"learning": "学习考核登录", "registration": "注册申请登陆"}
# The 温馨提示 links of the applicants' tab: (label, endpoint, element id).
REGISTRATION_LINKS = (
    ("初始注册", "registration_access.initial", "link-initial"),
    ("设置密码", "registration_access.setup_password", "tip-setup-password"),
    ("忘了密码？", "registration_access.forgot_password", "tip-forgot-password"),
    ("注册查询", "registration.verify_form", "tip-verify"),
)


def _tab(value: str | None) -> str:
    return value if value in TABS else "learning"


async def _login_page(
    *, tab: str, next_path: str, username: str = "", id_type: str = "", error: str | None = None
) -> str:
    await auth.ensure_session()
    endpoints = current_app.view_functions
    return await render_template(
        "accounts/login.html",
        captcha=await auth.new_captcha(),
        username=username,
        id_type=id_type if id_type in documents.LABELS else documents.ID_CARD,
        id_types=documents.LABELS,
        account_links=_account_links(),
        tabs=TABS,
        tab=tab,
        tab_urls={key: url_for("accounts.login", tab=key, next=next_path or None) for key in TABS},
        tips=[
            (label, url_for(ep), id_) for label, ep, id_ in REGISTRATION_LINKS if ep in endpoints
        ],
        error=error,
        next=next_path,
    )


@bp.get("/login")
async def login():
    """The login form: document type, number, password, image captcha; two tabs."""
    if auth.current_user() is not None:
        return redirect(auth.landing_url(auth.current_user()))
    return await _login_page(
        tab=_tab(request.args.get("tab")), next_path=local_path(request.args.get("next")) or ""
    )


@bp.post("/login")
async def login_post():
    """Check the form and start an authenticated session."""
    svc = services()
    form = await request.form
    username = form.get("username", "")
    id_type = form.get("id_type", "")
    tab = _tab(form.get("tab"))
    try:
        async with svc.db.write() as db:
            user = await service.login(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=svc.now(),
                username=username,
                password=form.get("password", ""),
                captcha_id=form.get("captcha_id", ""),
                captcha_answer=form.get("captcha", ""),
                ip=auth.client_ip(svc.config.trust_proxy),
                id_type=id_type,
            )
    except AppError as error:
        metrics.LOGINS.labels(error.code).inc()
        log.info("login refused: %s", error.code)
        page = await _login_page(
            tab=tab,
            next_path=local_path(form.get("next")) or "",
            username=username.strip(),
            id_type=id_type,
            error=error.message,
        )
        return page, error.status
    metrics.LOGINS.labels("ok").inc()
    logs.bind_user(user.id)
    log.info("login")
    await auth.start_session(user)
    if user.must_change_password:
        return redirect(url_for("accounts.change_password"))
    return redirect(local_path(form.get("next")) or _after_login(user, tab))


def _after_login(user: User, tab: str) -> str:
    """An applicant who logged in on the applicants' tab goes to 注册管理 (if they may)."""
    registration = "registration.home"
    if (
        tab == "registration"
        and registration in current_app.view_functions
        and user.has_role("registrant", "learner")
    ):
        return url_for(registration)
    return auth.landing_url(user)


@bp.get("/captcha", endpoint="captcha")
async def captcha_image():
    """A fresh captcha for the refresh-on-click of the login form."""
    return jsonify(await auth.new_captcha())


@bp.post("/logout")
async def logout():
    """End this session."""
    if g.session is not None:
        await sessions.revoke(services().redis, g.session)
    g.set_cookie = ""
    return redirect(url_for("accounts.login"))


@bp.get("/password")
@auth.login_required
async def change_password():
    """The change-password form (the only page before a first change)."""
    return await render_template("accounts/change_password.html", error=None)


@bp.post("/password")
@auth.login_required
async def change_password_post():
    """Change the password, end every other session and keep this browser logged in."""
    svc = services()
    form = await request.form
    try:
        async with svc.db.write() as db:
            user = await service.get(session=db, user_id=auth.current_user().id)
            await service.change_password(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=svc.now(),
                user=user,
                old=form.get("old_password", ""),
                new=form.get("new_password", ""),
                confirm=form.get("confirm_password", ""),
                ip=auth.client_ip(svc.config.trust_proxy),
            )
    except AppError as error:
        page = await render_template("accounts/change_password.html", error=error.message)
        return page, error.status
    # Every session of the account, this one included, ended with the commit (the
    # PasswordChanged event); this browser goes on with a fresh one.
    g.session = None
    await auth.start_session(user)
    return redirect(url_for("accounts.password_changed"))


@bp.get("/password/changed")
@auth.login_required
async def password_changed():
    """Confirmation after a password change."""
    return await render_template(
        "accounts/password_changed.html", next=auth.landing_url(auth.current_user())
    )


@bp.post("/api/tour/done")
@auth.login_required
async def tour_done():
    """Remember that the guided tour was seen or dismissed."""
    async with services().db.write() as db:
        user = await service.get(session=db, user_id=auth.current_user().id)
        user.tour_done = True
    return jsonify({"ok": True})
