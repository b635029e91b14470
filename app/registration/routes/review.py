"""审核: the 注册初审 queue of the reviewer's authorities and the 注册终审 queue, each
application's form with the decision controls."""

from __future__ import annotations

import json

from quart import Blueprint, redirect, render_template, request, url_for

from app.accounts import auth
from app.errors import AppError, NotFound
from app.registration import forms, review
from app.registration.routes.common import send_form, send_submitted_photo
from app.services import services

bp = Blueprint("review", __name__, url_prefix="/review")
ROLES = ("reviewer", "final_reviewer")
DONE = {
    "first_approve": "已初审通过，申请转入终审。",
    "first_return": "已退回申请人修改，退回原因已发送到申请人的公告信息。",
    "final_approve": "已终审通过，注册编号和有效期已发放。",
    "final_reject": "已作出不予注册决定，理由已发送到申请人的公告信息。",
}


@bp.get("")
@auth.require_role(*ROLES)
async def queue():
    """The queues, longest-waiting first, with how long each application has waited."""
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        first = await review.first_queue(session=db, reviewer=user)
        final = await review.final_queue(session=db) if user.has_role("final_reviewer") else []
        authorities = await review.authorities_of(session=db, user_id=user.id)
        recent = await review.recent_decisions(session=db, reviewer_id=user.id)
    return await render_template(
        "registration/review_queue.html",
        first=first,
        final=final,
        authorities=authorities,
        recent=recent,
        now=svc.now(),
        done=DONE.get(request.args.get("done", "")),
    )


async def _detail(application_id: int, error: str | None = None, status: int = 200):
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        application, sub, decisions = await review.get_for_review(
            session=db, application_id=application_id, user=user
        )
        may_first = await review.reviews_authority(session=db, application=application, user=user)
    form = json.loads(sub.form)
    since = review.waited_since(application)
    row = review.QueueRow(application, form["name"], form["authority"], since) if since else None
    page = await render_template(
        "registration/review_detail.html",
        application=application,
        submission=sub,
        decisions=decisions,
        waited=row.waited(svc.now()) if row else "",
        return_sections=review.RETURN_SECTIONS,
        may_first=may_first,
        error=error,
        photo_src=url_for("review.photo", application_id=application.id),
        **forms.context(form),
    )
    return page, status


@bp.get("/<int:application_id>")
@auth.require_role(*ROLES)
async def detail(application_id: int):
    """One application's submitted form and the decision of the stage it is at."""
    return await _detail(application_id)


async def _latest_form(application_id: int) -> dict:
    async with services().db.read() as db:
        _, sub, _ = await review.get_for_review(
            session=db, application_id=application_id, user=auth.current_user()
        )
    return json.loads(sub.form)


@bp.get("/<int:application_id>/photo")
@auth.require_role(*ROLES)
async def photo(application_id: int):
    return await send_submitted_photo(await _latest_form(application_id))


@bp.get("/<int:application_id>/form.<fmt>")
@auth.require_role(*ROLES)
async def form_file(application_id: int, fmt: str):
    if fmt not in ("pdf", "docx"):
        raise NotFound()
    return await send_form(await _latest_form(application_id), fmt, submitted=True)


@bp.post("/<int:application_id>/first")
@auth.require_role(*ROLES)
async def decide_first(application_id: int):
    """初审: 通过 or 退回修改 with reasons per section."""
    svc = services()
    form = await request.form
    outcome = form.get("outcome", "")
    reasons = {key: form.get(f"reason_{key}", "") for key in review.RETURN_SECTIONS}
    try:
        async with svc.db.write() as db:
            await review.decide_first(
                session=db,
                application_id=application_id,
                reviewer=auth.current_user(),
                outcome=outcome,
                reasons=reasons,
                now=svc.now(),
                ip=auth.request_ip(),
            )
    except NotFound:
        raise
    except AppError as error:
        return await _detail(application_id, error.message, error.status)
    return redirect(url_for("review.queue", done=f"first_{outcome}"))


@bp.post("/<int:application_id>/final")
@auth.require_role(*ROLES)
async def decide_final(application_id: int):
    """终审: 通过 (number and validity issued) or 不予注册 with a reason."""
    svc = services()
    form = await request.form
    outcome = form.get("outcome", "")
    try:
        async with svc.db.write() as db:
            await review.decide_final(
                session=db,
                application_id=application_id,
                reviewer=auth.current_user(),
                outcome=outcome,
                reason=form.get("reason", ""),
                now=svc.now(),
                ip=auth.request_ip(),
            )
    except NotFound:
        raise
    except AppError as error:
        return await _detail(application_id, error.message, error.status)
    return redirect(url_for("review.queue", done=f"final_{outcome}"))
