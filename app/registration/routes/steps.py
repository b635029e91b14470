"""注册管理 application steps: channel, personal, employer, education, experience, preview
and submit, and the draft form as PDF and Word."""

from __future__ import annotations

import json

from quart import redirect, request, url_for

from app.accounts import auth, documents
from app.errors import AppError, NotFound
from app.registration import (
    applications,
    forms,
    qualifications,
    sections,
    submission,
)
from app.registration.channels import CHANNELS
from app.registration.models import Kind
from app.registration.review import RETURN_SECTIONS
from app.registration.routes.common import (
    applicant_page,
    applicant_required,
    bp,
    next_step,
    open_application,
    posted_form,
    send_form,
    step_url,
)
from app.services import services

# ---------------------------------------------------------------------------- steps


@bp.get("/apply")
@applicant_required
async def apply():
    """Continue the application in progress at its first step."""
    application = await open_application()
    return redirect(step_url(applications.STEPS[application.kind][0]))


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
    return await applicant_page(
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
@applicant_required
async def step_channel():
    """选择注册渠道 / 注册机构 (and the category registered in)."""
    return await _channel_page()


@bp.post("/apply/channel")
@applicant_required
async def step_channel_post():
    svc = services()
    form = await posted_form()
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
    return redirect(next_step(application, "channel"))


async def _personal_page(error: str | None = None, status: int = 200, values: dict | None = None):
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        saved = await applications.person_of(session=db, user_id=user.id)
    document = documents.parse(user.id_type, user.id_number)
    if values is None:
        values = dict(saved)
        values.setdefault("gender", user.gender)
    return await applicant_page(
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
@applicant_required
async def personal():
    """个人基本信息 (a step of every application, and kept for the next one)."""
    return await _personal_page()


@bp.post("/personal")
@applicant_required
async def personal_post():
    svc = services()
    user = auth.current_user()
    form = await posted_form()
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
    return redirect(next_step(application, "personal"))


async def _employer_page(error: str | None = None, status: int = 200, values: dict | None = None):
    application = await open_application()
    values = values if values is not None else applications.content(application).get("employer", {})
    return await applicant_page(
        "registration/employer.html",
        status=status,
        step="employer",
        error=error,
        values=values,
        attributes=sections.UNIT_ATTRIBUTES,
    )


@bp.get("/apply/employer")
@applicant_required
async def step_employer():
    """聘用单位信息."""
    return await _employer_page()


@bp.post("/apply/employer")
@applicant_required
async def step_employer_post():
    svc = services()
    form = await posted_form()
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
    return redirect(next_step(application, "employer"))


@bp.get("/apply/education")
@applicant_required
async def step_education():
    """继续教育信息: filled from this platform's certificates (a renewal: inside the current
    validity; a 逾期初始注册: the last validity period)."""
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        if "education" not in applications.STEPS[application.kind]:
            raise NotFound("只有延续注册和逾期初始注册需要填写继续教育信息")
        form = await submission.build_form(
            session=db, application=application, user=user, now=svc.now()
        )
    return await applicant_page(
        "registration/education.html",
        step="education",
        education=form["education"],
        next_url=next_step(application, "education"),
    )


async def _experience_page(
    error: str | None = None, status: int = 200, values: dict | None = None, edit: str = ""
):
    application = await open_application()
    entries = applications.content(application).get("experiences", [])
    edit = edit or request.args.get("edit", "")
    if values is None:
        values = next((e for e in entries if e["id"] == edit), {}) if edit else {}
    return await applicant_page(
        "registration/experience.html",
        status=status,
        step="experience",
        error=error,
        entries=entries,
        values=values,
        edit=edit if any(e["id"] == edit for e in entries) else "",
        month_text=forms.month_text,
        next_url=next_step(application, "experience"),
        max_entries=sections.MAX_EXPERIENCES,
    )


@bp.get("/apply/experience")
@applicant_required
async def step_experience():
    """从事安全生产相关业务工作经历: add, edit (click the period), delete."""
    return await _experience_page()


@bp.post("/apply/experience")
@applicant_required
async def step_experience_post():
    """添加 a work-experience entry, or save the one being edited."""
    svc = services()
    form = await posted_form()
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
@applicant_required
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
        form = await submission.build_form(
            session=db, application=application, user=user, now=svc.now()
        )
        reasons = await _return_reasons(application)
    fix_step = error.details.get("step") if error else None
    return await applicant_page(
        "registration/preview.html",
        status=error.status if error else 200,
        step="preview",
        error=error.message if error else None,
        fix_url=step_url(fix_step) if fix_step else None,
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
@applicant_required
async def step_preview():
    """预览 the application form, with 打印 (PDF), 导出到word打印 and 上报."""
    return await _preview_page()


@bp.post("/apply/submit")
@applicant_required
async def submit():
    """上报 to the registration authority."""
    svc = services()
    user = auth.current_user()
    try:
        async with svc.db.write() as db:
            fresh = await db.get(type(user), user.id)
            await submission.submit(
                session=db, config=svc.config, user=fresh, now=svc.now(), ip=auth.request_ip()
            )
    except NotFound:
        raise
    except AppError as error:
        return await _preview_page(error)
    return redirect(url_for("registration.home", done="submitted"))


@bp.post("/apply/withdraw")
@applicant_required
async def withdraw():
    """撤销 an application not yet under review."""
    svc = services()
    async with svc.db.write() as db:
        await applications.withdraw(
            session=db, user=auth.current_user(), now=svc.now(), ip=auth.request_ip()
        )
    return redirect(url_for("registration.home", done="withdrawn"))


@bp.get("/apply/form.<fmt>")
@applicant_required
async def draft_form(fmt: str):
    """打印 (PDF, two-sided A4) or 导出到word打印 the application being filled in."""
    if fmt not in ("pdf", "docx"):
        raise NotFound()
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application = await applications.get_open(session=db, user_id=user.id)
        form = await submission.build_form(
            session=db, application=application, user=user, now=svc.now()
        )
    return await send_form(form, fmt, submitted=False)
