"""注册管理 for applicants: the home page (status, 公告信息, 功能目录, flow navigation), the
application steps, the form as PDF and Word, the history, and public verification."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from quart import Blueprint, Response, redirect, render_template, request, url_for

from app.accounts import auth, documents
from app.clock import local_date
from app.errors import AppError, NotFound
from app.registration import (
    access,
    applications,
    forms,
    notices,
    qualifications,
    registry,
    rules,
    sections,
    submission,
)
from app.registration.models import CHANNELS, KIND_LABELS, Kind
from app.registration.review import RETURN_SECTIONS
from app.services import services

bp = Blueprint("registration", __name__, url_prefix="/registration")

DONE = {
    "qualified": "注册资格信息验证通过。",
    "started": "申请已建立，草稿会自动保存，下次登录可继续填写。",
    "submitted": "申请已上报，请等待注册机构初审；审核结果会显示在公告信息中。",
    "withdrawn": "申请已撤销。",
    "saved": "已保存。",
}


def _ip() -> str:
    return auth.client_ip(services().config.trust_proxy)


async def _form() -> dict:
    return {k: v for k, v in (await request.form).items()}


async def _page(template: str, *, status: int = 200, **context):
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


def _step_url(step: str) -> str:
    return url_for("registration.personal" if step == "personal" else f"registration.step_{step}")


def _next_step(application, step: str) -> str:
    steps = applications.STEPS[application.kind]
    index = steps.index(step)
    return _step_url(steps[min(index + 1, len(steps) - 1)])


# ---------------------------------------------------------------------------- home


@bp.get("")
@auth.login_required
async def home():
    """The applicant's page: status, 公告信息, 功能目录 and the flow navigation."""
    svc = services()
    user = auth.current_user()
    now = svc.now()
    async with svc.db.read() as db:
        records = await qualifications.of_user(session=db, user_id=user.id)
        latest = await registry.latest_of(session=db, user_id=user.id)
        options = await applications.options(session=db, user=user, now=now)
        board = await notices.of_user(session=db, user_id=user.id)
        rule_set = await rules.current(session=db)
    reg_state = registry.state(latest, local_date(now)) if latest else None
    page = await _page(
        "registration/home.html",
        records=records,
        registration=latest,
        reg_state=reg_state,
        state_labels=registry.STATE_LABELS,
        options=options,
        notices=board,
        rule_set=rule_set,
        months_text=rules.months_text,
        kind_steps={
            k: [applications.step_label(k, s) for s in v] for k, v in applications.STEPS.items()
        },
    )
    async with svc.db.write() as db:
        await notices.mark_read(session=db, user_id=user.id, now=now)
    return page


@bp.get("/qualify")
@auth.login_required
async def qualify():
    """注册资格信息验证: the exam qualification, before an initial registration."""
    return await _page("registration/qualify.html", error=None, values={})


@bp.post("/qualify")
@auth.login_required
async def qualify_post():
    svc = services()
    form = await _form()
    try:
        async with svc.db.write() as db:
            fresh = await db.get(type(auth.current_user()), auth.current_user().id)
            await access.verify_qualification(session=db, user=fresh, now=svc.now(), form=form)
    except AppError as error:
        return await _page(
            "registration/qualify.html", status=error.status, error=error.message, values=form
        )
    return redirect(url_for("registration.home", done="qualified"))


@bp.post("/start/<kind>")
@auth.login_required
async def start(kind: str):
    """开始初始/变更/延续/重新注册: open a draft."""
    svc = services()
    if kind not in KIND_LABELS:
        raise NotFound("没有这种注册申请")
    async with svc.db.write() as db:
        application = await applications.start(
            session=db, user=auth.current_user(), kind=kind, now=svc.now()
        )
    first = applications.STEPS[application.kind][0]
    return redirect(_step_url(first) + "?done=started")


async def _open_application():
    async with services().db.read() as db:
        return await applications.get_open(session=db, user_id=auth.current_user().id)


# ---------------------------------------------------------------------------- steps


@bp.get("/apply")
@auth.login_required
async def apply():
    """Continue the application in progress at its first step."""
    application = await _open_application()
    return redirect(_step_url(applications.STEPS[application.kind][0]))


async def _channel_page(error: str | None = None, status: int = 200, values: dict | None = None):
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        authorities = await applications.authorities(session=db)
        records = await qualifications.of_user(session=db, user_id=user.id)
    values = values or {
        "channel": application.channel,
        "authority_id": str(application.authority_id or ""),
        "category": application.category,
    }
    return await _page(
        "registration/channel.html",
        status=status,
        step="channel",
        error=error,
        values=values,
        channels=CHANNELS,
        authorities=authorities,
        categories=list(dict.fromkeys(r.category for r in records)),
        fixed_category=application.kind == Kind.RENEWAL,
    )


@bp.get("/apply/channel")
@auth.login_required
async def step_channel():
    """选择注册渠道 / 注册机构 (and the category registered in)."""
    return await _channel_page()


@bp.post("/apply/channel")
@auth.login_required
async def step_channel_post():
    svc = services()
    form = await _form()
    try:
        async with svc.db.write() as db:
            application = await applications.get_open(session=db, user_id=auth.current_user().id)
            await applications.save_channel(
                session=db, application=application, form=form, now=svc.now()
            )
    except NotFound:
        raise
    except AppError as error:
        return await _channel_page(error.message, error.status, form)
    return redirect(_next_step(application, "channel"))


async def _personal_page(error: str | None = None, status: int = 200, values: dict | None = None):
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        saved = await applications.person_of(session=db, user_id=user.id)
    document = documents.parse(user.id_type, user.id_number)
    if values is None:
        values = dict(saved)
        values.setdefault("gender", user.gender)
    return await _page(
        "registration/personal.html",
        status=status,
        step="personal",
        error=error,
        values=values,
        user=user,
        id_text=documents.display(user.id_type, user.id_number),
        birth_from_id=document.birth_date,
        educations=sections.EDUCATION,
    )


@bp.get("/personal")
@auth.login_required
async def personal():
    """个人基本信息 (a step of every application, and kept for the next one)."""
    return await _personal_page()


@bp.post("/personal")
@auth.login_required
async def personal_post():
    svc = services()
    user = auth.current_user()
    form = await _form()
    document = documents.parse(user.id_type, user.id_number)
    try:
        async with svc.db.write() as db:
            await applications.save_personal(
                session=db, user=user, birth=document.birth_date, form=form, now=svc.now()
            )
            application = await applications.current(session=db, user_id=user.id)
    except AppError as error:
        return await _personal_page(error.message, error.status, form)
    if application is None or "personal" not in applications.STEPS[application.kind]:
        return redirect(url_for("registration.personal", done="saved"))
    return redirect(_next_step(application, "personal"))


async def _employer_page(error: str | None = None, status: int = 200, values: dict | None = None):
    application = await _open_application()
    values = values if values is not None else applications.content(application).get("employer", {})
    return await _page(
        "registration/employer.html",
        status=status,
        step="employer",
        error=error,
        values=values,
        attributes=sections.UNIT_ATTRIBUTES,
    )


@bp.get("/apply/employer")
@auth.login_required
async def step_employer():
    """聘用单位信息."""
    return await _employer_page()


@bp.post("/apply/employer")
@auth.login_required
async def step_employer_post():
    svc = services()
    form = await _form()
    try:
        async with svc.db.write() as db:
            application = await applications.get_open(session=db, user_id=auth.current_user().id)
            await applications.save_employer(
                session=db, application=application, form=form, now=svc.now()
            )
    except NotFound:
        raise
    except AppError as error:
        return await _employer_page(error.message, error.status, form)
    return redirect(_next_step(application, "employer"))


@bp.get("/apply/education")
@auth.login_required
async def step_education():
    """继续教育信息: filled from this platform's certificates inside the current validity."""
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        if application.kind != Kind.RENEWAL:
            raise NotFound("只有延续注册需要填写继续教育信息")
        form = await submission.build_form(session=db, application=application, user=user)
    return await _page(
        "registration/education.html",
        step="education",
        education=form["education"],
        next_url=_next_step(application, "education"),
    )


async def _experience_page(
    error: str | None = None, status: int = 200, values: dict | None = None, edit: str = ""
):
    application = await _open_application()
    entries = applications.content(application).get("experiences", [])
    edit = edit or request.args.get("edit", "")
    if values is None:
        values = next((e for e in entries if e["id"] == edit), {}) if edit else {}
    return await _page(
        "registration/experience.html",
        status=status,
        step="experience",
        error=error,
        entries=entries,
        values=values,
        edit=edit if any(e["id"] == edit for e in entries) else "",
        month_text=forms.month_text,
        next_url=_next_step(application, "experience"),
        max_entries=sections.MAX_EXPERIENCES,
    )


@bp.get("/apply/experience")
@auth.login_required
async def step_experience():
    """从事安全生产相关业务工作经历: add, edit (click the period), delete."""
    return await _experience_page()


@bp.post("/apply/experience")
@auth.login_required
async def step_experience_post():
    """添加 a work-experience entry, or save the one being edited."""
    svc = services()
    form = await _form()
    entry_id = form.get("entry_id") or None
    try:
        async with svc.db.write() as db:
            application = await applications.get_open(session=db, user_id=auth.current_user().id)
            await applications.save_experience(
                session=db, application=application, form=form, now=svc.now(), entry_id=entry_id
            )
    except NotFound:
        raise
    except AppError as error:
        return await _experience_page(error.message, error.status, form, entry_id or "")
    return redirect(url_for("registration.step_experience", done="saved"))


@bp.post("/apply/experience/<entry_id>/delete")
@auth.login_required
async def step_experience_delete(entry_id: str):
    """删除 a work-experience entry."""
    svc = services()
    try:
        async with svc.db.write() as db:
            application = await applications.get_open(session=db, user_id=auth.current_user().id)
            await applications.delete_experience(
                session=db, application=application, entry_id=entry_id, now=svc.now()
            )
    except NotFound:
        raise
    except AppError as error:
        return await _experience_page(error.message, error.status)
    return redirect(url_for("registration.step_experience", done="saved"))


async def _preview_page(error: AppError | None = None):
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        form = await submission.build_form(session=db, application=application, user=user)
        reasons = await _return_reasons(application)
    fix_step = error.details.get("step") if error else None
    return await _page(
        "registration/preview.html",
        status=error.status if error else 200,
        step="preview",
        error=error.message if error else None,
        fix_url=_step_url(fix_step) if fix_step else None,
        reasons=reasons,
        photo_src=url_for("profile.photo") if user.photo_file else None,
        **forms.context(form),
    )


async def _return_reasons(application) -> list[tuple[str, str]]:
    if application.status != "returned":
        return []
    reasons = json.loads(application.return_reasons or "{}")
    return [(RETURN_SECTIONS.get(k, k), v) for k, v in reasons.items()]


@bp.get("/apply/preview")
@auth.login_required
async def step_preview():
    """预览 the application form, with 打印 (PDF), 导出到word打印 and 上报."""
    return await _preview_page()


@bp.post("/apply/submit")
@auth.login_required
async def submit():
    """上报 to the registration authority."""
    svc = services()
    user = auth.current_user()
    try:
        async with svc.db.write() as db:
            fresh = await db.get(type(user), user.id)
            await submission.submit(
                session=db, config=svc.config, user=fresh, now=svc.now(), ip=_ip()
            )
    except NotFound:
        raise
    except AppError as error:
        return await _preview_page(error)
    return redirect(url_for("registration.home", done="submitted"))


@bp.post("/apply/withdraw")
@auth.login_required
async def withdraw():
    """撤销 an application not yet under review."""
    svc = services()
    async with svc.db.write() as db:
        await applications.withdraw(session=db, user=auth.current_user(), now=svc.now(), ip=_ip())
    return redirect(url_for("registration.home", done="withdrawn"))


def _download(data: bytes, mime: str, name: str, fallback: str, *, inline: bool) -> Response:
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
        return _download(data, "application/pdf", f"{stem}.pdf", "form.pdf", inline=True)
    data = await asyncio.to_thread(forms.render_docx, form, photo)
    return _download(data, forms.DOCX_MIME, f"{stem}.docx", "form.docx", inline=False)


@bp.get("/apply/form.<fmt>")
@auth.login_required
async def draft_form(fmt: str):
    """打印 (PDF, two-sided A4) or 导出到word打印 the application being filled in."""
    if fmt not in ("pdf", "docx"):
        raise NotFound()
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        form = await submission.build_form(session=db, application=application, user=user)
    return await send_form(form, fmt, submitted=False)


# ---------------------------------------------------------------------------- history


@bp.get("/history")
@auth.login_required
async def history():
    """历史记录: every application with each form as it was submitted."""
    async with services().db.read() as db:
        rows = await applications.history(session=db, user_id=auth.current_user().id)
    return await _page("registration/history.html", rows=rows)


async def _submitted_form(submission_id: int) -> dict:
    async with services().db.read() as db:
        sub, _ = await applications.get_submission(
            session=db, submission_id=submission_id, user_id=auth.current_user().id
        )
    return json.loads(sub.form)


@bp.get("/history/<int:submission_id>")
@auth.login_required
async def history_form(submission_id: int):
    """A submitted form, as it was."""
    form = await _submitted_form(submission_id)
    return await _page(
        "registration/submitted.html",
        submission_id=submission_id,
        photo_src=url_for("registration.history_photo", submission_id=submission_id),
        **forms.context(form),
    )


@bp.get("/history/<int:submission_id>/photo")
@auth.login_required
async def history_photo(submission_id: int):
    form = await _submitted_form(submission_id)
    return await send_submitted_photo(form)


async def send_submitted_photo(form: dict):
    """The photo kept with a submitted form."""
    path = forms.photo_path(services().config, form, submitted=True)
    if path is None:
        raise NotFound("照片不存在")
    data = await asyncio.to_thread(path.read_bytes)
    response = Response(data, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/history/<int:submission_id>.<fmt>")
@auth.login_required
async def history_download(submission_id: int, fmt: str):
    if fmt not in ("pdf", "docx"):
        raise NotFound()
    return await send_form(await _submitted_form(submission_id), fmt, submitted=True)


# ---------------------------------------------------------------------------- public


@bp.get("/verify")
async def verify_form():
    """注册查询: type a registration number (no login needed)."""
    number = request.args.get("number", "").strip()
    if number:
        return redirect(url_for("registration.verify", number=number[:30]))
    return await render_template("registration/verify.html", result=None)


@bp.get("/verify/<number>")
async def verify(number: str):
    """Public verification: 有效 / 已过期 / 已注销, with a masked name only."""
    svc = services()
    async with svc.db.read() as db:
        result = await registry.verify(session=db, number=number, today=local_date(svc.now()))
    status = 404 if result.status == "unknown" else 200
    return await render_template("registration/verify.html", result=result), status
