"""注册管理 for applicants: the home page (status, 公告信息, 功能目录, flow navigation), the
start of an application, the history, and public verification."""

from __future__ import annotations

import json

from quart import redirect, render_template, request, url_for

from app.accounts import auth
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
)
from app.registration.models import KIND_LABELS
from app.registration.routes.common import (
    applicant_page,
    applicant_required,
    bp,
    posted_form,
    send_form,
    send_submitted_photo,
    step_url,
)
from app.services import services

# ---------------------------------------------------------------------------- home


@bp.get("")
@applicant_required
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
    page = await applicant_page(
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
@applicant_required
async def qualify():
    """注册资格信息验证: the exam qualification, before an initial registration."""
    return await applicant_page("registration/qualify.html", error=None, values={})


@bp.post("/qualify")
@applicant_required
async def qualify_post():
    svc = services()
    form = await posted_form()
    try:
        async with svc.db.write() as db:
            fresh = await db.get(type(auth.current_user()), auth.current_user().id)
            await access.verify_qualification(session=db, user=fresh, now=svc.now(), form=form)
    except AppError as error:
        return await applicant_page(
            "registration/qualify.html", status=error.status, error=error.message, values=form
        )
    return redirect(url_for("registration.home", done="qualified"))


@bp.post("/start/<kind>")
@applicant_required
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
    return redirect(step_url(first) + "?done=started")


# ---------------------------------------------------------------------------- history


@bp.get("/history")
@applicant_required
async def history():
    """历史记录: every application with each form as it was submitted."""
    async with services().db.read() as db:
        rows = await applications.history(session=db, user_id=auth.current_user().id)
    return await applicant_page("registration/history.html", rows=rows)


async def _submitted_form(submission_id: int) -> dict:
    async with services().db.read() as db:
        sub, _ = await applications.get_submission(
            session=db, submission_id=submission_id, user_id=auth.current_user().id
        )
    return json.loads(sub.form)


@bp.get("/history/<int:submission_id>")
@applicant_required
async def history_form(submission_id: int):
    """A submitted form, as it was."""
    form = await _submitted_form(submission_id)
    return await applicant_page(
        "registration/submitted.html",
        submission_id=submission_id,
        photo_src=url_for("registration.history_photo", submission_id=submission_id),
        **forms.context(form),
    )


@bp.get("/history/<int:submission_id>/photo")
@applicant_required
async def history_photo(submission_id: int):
    form = await _submitted_form(submission_id)
    return await send_submitted_photo(form)


@bp.get("/history/<int:submission_id>.<fmt>")
@applicant_required
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
