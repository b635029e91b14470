"""设置密码 (first use, after 资格信息验证) and 忘了密码 (a reset link by e-mail): the pages
linked under the login form. No login needed."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request, url_for

from app.accounts import auth, documents, sessions
from app.errors import AppError
from app.registration import access
from app.services import services

bp = Blueprint("registration_access", __name__, url_prefix="/registration")


async def _render(template: str, status: int = 200, **context):
    await auth.ensure_session()
    page = await render_template(
        template, captcha=await auth.new_captcha(), id_types=documents.LABELS, **context
    )
    return page, status


@bp.get("/setup-password")
async def setup_password():
    """设置密码, step 1: 身份验证 against the qualification records."""
    return await _render("registration/setup_verify.html", error=None, values={}, initial=False)


@bp.get("/initial")
async def initial():
    """初始注册 (the 温馨提示 of the login page's applicants' tab): 注册资格信息验证. A person
    signed in checks the record against their account; anyone else proves it is theirs and
    then sets a password (the same check as 设置密码)."""
    if auth.current_user() is not None:
        return redirect(url_for("registration.qualify"))
    return await _render("registration/setup_verify.html", error=None, values={}, initial=True)


@bp.post("/setup-password")
async def setup_password_post():
    """Check the identity, then on to the password (or the form again with what is wrong)."""
    svc = services()
    form = {k: v for k, v in (await request.form).items()}
    initial = form.get("initial") == "1"
    try:
        async with svc.db.read() as db:
            token = await access.verify_identity(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=svc.now(),
                form=form,
                ip=auth.request_ip(),
            )
    except AppError as error:
        form.pop("captcha", None)
        return await _render(
            "registration/setup_verify.html",
            error.status,
            error=error.message,
            values=form,
            initial=initial,
        )
    return redirect(url_for("registration_access.setup_password_set", token=token))


async def _set_page(token: str, error: str | None = None, status: int = 200):
    svc = services()
    identity = await access.pending_identity(svc.redis, token, now=svc.now())
    await auth.ensure_session()
    page = await render_template(
        "registration/setup_password.html",
        identity=identity,
        id_text=documents.display(identity.id_type, identity.number),
        token=token,
        error=error,
    )
    return page, status


@bp.get("/setup-password/<token>")
async def setup_password_set(token: str):
    """设置密码, step 2: the password of the verified identity."""
    return await _set_page(token)


@bp.post("/setup-password/<token>")
async def setup_password_set_post(token: str):
    svc = services()
    form = await request.form
    try:
        async with svc.db.write() as db:
            await access.set_first_password(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=svc.now(),
                token=token,
                form=dict(form),
                ip=auth.request_ip(),
            )
    except AppError as error:
        if error.code == "setup_expired":
            raise
        return await _set_page(token, error.message, error.status)
    return redirect(url_for("registration_access.password_done", what="setup"))


@bp.get("/forgot-password")
async def forgot_password():
    """忘了密码: ask for a reset link (only for applicants who left an e-mail)."""
    return await _render("registration/forgot.html", error=None, answer=None, values={})


@bp.post("/forgot-password")
async def forgot_password_post():
    svc = services()
    form = {k: v for k, v in (await request.form).items()}
    try:
        async with svc.db.read() as db:
            answer = await access.request_reset(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=svc.now(),
                form=form,
                ip=auth.request_ip(),
                enqueue=svc.enqueue,
            )
    except AppError as error:
        form.pop("captcha", None)
        return await _render(
            "registration/forgot.html", error.status, error=error.message, answer=None, values=form
        )
    return await _render("registration/forgot.html", error=None, answer=answer, values={})


async def _reset_page(token: str, error: str | None = None, status: int = 200):
    svc = services()
    async with svc.db.read() as db:
        user = await access.reset_target(session=db, redis=svc.redis, token=token, now=svc.now())
    await auth.ensure_session()
    page = await render_template(
        "registration/reset.html", name=user.name, token=token, error=error
    )
    return page, status


@bp.get("/reset-password/<token>")
async def reset_password(token: str):
    """The page a reset link opens: a new password, once, within 30 minutes."""
    return await _reset_page(token)


@bp.post("/reset-password/<token>")
async def reset_password_post(token: str):
    svc = services()
    form = await request.form
    try:
        async with svc.db.write() as db:
            user = await access.reset_password(
                session=db,
                redis=svc.redis,
                config=svc.config,
                now=svc.now(),
                token=token,
                form=dict(form),
                ip=auth.request_ip(),
            )
    except AppError as error:
        if error.code == "reset_invalid":
            raise
        return await _reset_page(token, error.message, error.status)
    await sessions.revoke_all(svc.redis, user.id)
    return redirect(url_for("registration_access.password_done", what="reset"))


@bp.get("/password-done")
async def password_done():
    """Confirmation: the password is set; log in with it."""
    what = "reset" if request.args.get("what") == "reset" else "setup"
    return await render_template("registration/password_done.html", what=what)
