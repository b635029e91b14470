"""What the applicant pages share: the blueprint, the page frame with 功能目录 and the
open application's steps, and the form files (PDF, Word, the kept photo)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from quart import Blueprint, Response, render_template, request, url_for

from app.accounts import auth
from app.errors import NotFound
from app.registration import (
    applications,
    forms,
    notices,
    reminders,
)
from app.services import services

bp = Blueprint("registration", __name__, url_prefix="/registration")

# Who may apply: a 注册申请人, or a learner (an engineer studying here, who verifies a
# qualification from these pages). A reviewer who is an engineer holds 注册申请人 as well.
APPLICANT_ROLES = ("registrant", "learner")
applicant_required = auth.require_role(*APPLICANT_ROLES)


@bp.before_request
async def post_due_notices() -> None:
    """An applicant's dated notices (the renewal window opening, 90 and 30 days before
    expiry, expiry) reach the board the moment they fall due: any applicant page read
    posts the one due first (the worker does the same every minute for everyone)."""
    user = auth.current_user()
    if request.method != "GET" or user is None or not user.has_role(*APPLICANT_ROLES):
        return
    svc = services()
    async with svc.db.read() as db:
        due = await reminders.due_for(session=db, user_id=user.id, now=svc.now())
    if due is not None:
        async with svc.db.write() as db:
            await reminders.post(session=db, now=svc.now(), dues=[due])


DONE = {
    "qualified": "注册资格信息验证通过。",
    "started": "申请已建立，草稿会自动保存，下次登录可继续填写。",
    "submitted": "申请已上报，请等待注册机构初审；审核结果会显示在公告信息中。",
    "withdrawn": "申请已撤销。",
    "saved": "已保存。",
}


async def posted_form() -> dict:
    return {k: v for k, v in (await request.form).items()}


async def applicant_page(template: str, *, status: int = 200, **context):
    """Render an applicant page with the 功能目录 and the open application's steps."""
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.current(session=db, user_id=user.id)
        unread = await notices.unread_count(session=db, user_id=user.id)
    steps = []
    if application is not None:
        steps = [
            (s, applications.step_label(application.kind, s))
            for s in applications.STEPS[application.kind]
        ]
    body = await render_template(
        template,
        application=application,
        steps=steps,
        unread=unread,
        done=DONE.get(request.args.get("done", "")),
        **context,
    )
    return body, status


async def open_application():
    """The signed-in applicant's application being filled in (NotFound if none)."""
    async with services().db.read() as db:
        return await applications.get_open(session=db, user_id=auth.current_user().id)


def step_url(step: str) -> str:
    return url_for("registration.personal" if step == "personal" else f"registration.step_{step}")


def next_step(application, step: str) -> str:
    steps = applications.STEPS[application.kind]
    index = steps.index(step)
    return step_url(steps[min(index + 1, len(steps) - 1)])


def download(data: bytes, mime: str, name: str, fallback: str, *, inline: bool) -> Response:
    response = Response(data, mimetype=mime)
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def send_form(form: dict, fmt: str, *, submitted: bool):
    """The form as PDF (inline, for printing) or as a Word file."""
    svc = services()
    path = forms.photo_path(svc.config, form, submitted=submitted)
    photo = await asyncio.to_thread(path.read_bytes) if path else None
    stem = f"{form['title']}-{form['name']}"
    if fmt == "pdf":
        data = await asyncio.to_thread(forms.render_pdf, form, photo)
        return download(data, "application/pdf", f"{stem}.pdf", "form.pdf", inline=True)
    data = await asyncio.to_thread(forms.render_docx, form, photo)
    return download(data, forms.DOCX_MIME, f"{stem}.docx", "form.docx", inline=False)


async def send_submitted_photo(form: dict):
    """The photo kept with a submitted form."""
    path = forms.photo_path(services().config, form, submitted=True)
    if path is None:
        raise NotFound("照片不存在")
    data = await asyncio.to_thread(path.read_bytes)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response
