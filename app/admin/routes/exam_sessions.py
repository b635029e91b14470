"""考场管理: exam sessions of every batch, their learners and invigilators."""

from __future__ import annotations

from quart import redirect, request, url_for

from app.admin.routes.common import actor, admin_page, bp, refused_on, render
from app.errors import AppError, Invalid
from app.exams import sessions
from app.invigilation import assignments, schemas
from app.services import services

DONE = {
    "created": "考场已创建。",
    "deleted": "考场已删除。",
    "assigned": "监考员已指派。",
    "unassigned": "已取消该监考员。",
}


async def _admin_page(
    *, error: str | None = None, status: int = 200, form=None, errors: dict | None = None
):
    async with services().db.read() as db:
        rows = await sessions.list_sessions(session=db)
        staff = await assignments.invigilators_of(
            session=db, session_ids=[r.exam_session.id for r in rows]
        )
        batches = await sessions.exam_batches(session=db)
        choices = await assignments.invigilator_choices(session=db)
    page = await render(
        "admin/exam_sessions.html",
        rows=rows,
        staff=staff,
        batches=batches,
        choices=choices,
        form=form or {},
        error=error,
        errors=errors or {},
        notice=DONE.get(request.args.get("done", "")),
    )
    return page, status


def _back(done: str):
    return redirect(url_for("admin.exam_sessions", done=done))


@bp.get("/exam-sessions")
@admin_page
async def exam_sessions():
    """考场管理: sessions of every batch, their learners and invigilators."""
    return await _admin_page()


@bp.post("/exam-sessions")
@admin_page
async def exam_session_create():
    """Create a session from the form (times in Beijing time)."""
    svc = services()
    who = actor()
    form = await request.form
    try:
        request_ = schemas.SessionForm.parse(form)
        async with svc.db.write() as db:
            await assignments.create_session(
                session=db,
                batch_id=request_.batch_id,
                name=request_.name,
                starts_at=request_.starts_at,
                ends_at=request_.ends_at,
                id_numbers=request_.id_numbers,
                now=svc.now(),
                actor_id=who.id,
                ip=who.ip,
            )
    except Invalid as error:
        problems = f"新建考场未成功，请修改以下 {len(error.fields)} 处后重新提交。"
        return await _admin_page(error=problems, status=400, form=form, errors=error.fields)
    except AppError as error:
        return await _admin_page(error=error.message, status=error.status, form=form)
    return _back("created")


@bp.post("/exam-sessions/<int:session_id>/invigilators")
@admin_page
@refused_on(_admin_page)
async def exam_session_assign(session_id: int):
    """Assign an invigilator (chosen from the list, or by ID number)."""
    svc = services()
    who = actor()
    form = await request.form
    async with svc.db.write() as db:
        await assignments.assign(
            session=db,
            session_id=session_id,
            id_number=form.get("id_number", ""),
            now=svc.now(),
            actor_id=who.id,
            ip=who.ip,
        )
    return _back("assigned")


@bp.post("/exam-sessions/<int:session_id>/invigilators/<int:user_id>/remove")
@admin_page
async def exam_session_unassign(session_id: int, user_id: int):
    """Take an invigilator off a session (their open dashboards close)."""
    svc = services()
    who = actor()
    async with svc.db.write() as db:
        await assignments.unassign(
            session=db,
            session_id=session_id,
            user_id=user_id,
            now=svc.now(),
            actor_id=who.id,
            ip=who.ip,
        )
    return _back("unassigned")


@bp.post("/exam-sessions/<int:session_id>/delete")
@admin_page
@refused_on(_admin_page)
async def exam_session_delete(session_id: int):
    """Delete a session nobody has sat in."""
    svc = services()
    who = actor()
    async with svc.db.write() as db:
        await assignments.delete_session(
            session=db,
            session_id=session_id,
            now=svc.now(),
            actor_id=who.id,
            ip=who.ip,
        )
    return _back("deleted")
