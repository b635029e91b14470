"""监考: my sessions, the live dashboard and the invigilator's actions; 考场管理 for admins."""

from __future__ import annotations

from quart import Blueprint, jsonify, render_template, send_file

from app.accounts import auth
from app.errors import NotFound
from app.exams import sessions
from app.invigilation import actions, assignments, board, schemas
from app.lib.http import json_body
from app.services import services

bp = Blueprint("invigilate", __name__)

STAFF = ("invigilator", "admin")


# ---------------------------------------------------------------------------- pages


@bp.get("/invigilate")
@auth.require_role(*STAFF)
async def index():
    """我的监考: the sessions this invigilator is assigned to (every one for an admin)."""
    svc = services()
    async with svc.db.read() as db:
        rows = await assignments.sessions_for(session=db, user=auth.current_user())
        staff = await assignments.invigilators_of(
            session=db, session_ids=[r.exam_session.id for r in rows]
        )
    return await render_template("invigilation/index.html", rows=rows, staff=staff, now=svc.now())


@bp.get("/invigilate/<int:session_id>")
@auth.require_role(*STAFF)
async def dashboard(session_id: int):
    """The live dashboard of one session (rows arrive over /proctor)."""
    svc = services()
    async with svc.db.read() as db:
        exam_session = await assignments.require_access(
            session=db, user=auth.current_user(), session_id=session_id
        )
        batch_name = await sessions.batch_name_of(session=db, exam_session=exam_session)
    return await render_template(
        "invigilation/dashboard.html",
        exam_session=exam_session,
        batch_name=batch_name,
        states=board.STATES,
        reasons=schemas.PRESET_REASONS,
        max_minutes=schemas.MAX_MINUTES,
    )


@bp.get("/invigilate/<int:session_id>/photo/<int:user_id>")
@auth.require_role(*STAFF)
async def photo(session_id: int, user_id: int):
    """A learner's registered ID photo, for the invigilators of their session only."""
    svc = services()
    async with svc.db.read() as db:
        exam_session = await assignments.require_access(
            session=db, user=auth.current_user(), session_id=session_id
        )
        path = await board.learner_photo(
            session=db, exam_session=exam_session, user_id=user_id, config=svc.config
        )
    response = await send_file(path, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------- JSON


@bp.get("/api/invigilate/<int:session_id>/snapshot")
@auth.require_role(*STAFF)
async def snapshot(session_id: int):
    """Every row of the dashboard at once (what /proctor's ``snapshot`` returns)."""
    svc = services()
    async with svc.db.read() as db:
        exam_session = await assignments.require_access(
            session=db, user=auth.current_user(), session_id=session_id
        )
        snap = await board.snapshot(
            session=db, redis=svc.redis, exam_session=exam_session, now=svc.now()
        )
    return jsonify({"ok": True, **snap})


@bp.get("/api/invigilate/<int:session_id>/learners/<int:user_id>/timeline")
@auth.require_role(*STAFF)
async def timeline(session_id: int, user_id: int):
    """A learner's history in the session (joins, focus, devices, messages, actions)."""
    async with services().db.read() as db:
        exam_session = await assignments.require_access(
            session=db, user=auth.current_user(), session_id=session_id
        )
        if not await sessions.is_member(session=db, exam_session=exam_session, user_id=user_id):
            raise NotFound("该考生不在本考场")
        entries = await board.timeline(session=db, exam_session=exam_session, user_id=user_id)
    return jsonify({"ok": True, "entries": entries})


async def _act(session_id: int, do):
    """Run one action in one unit of work, after checking who may act on the session."""
    svc = services()
    body = await json_body()
    async with svc.db.write() as db:
        exam_session = await assignments.require_access(
            session=db, user=auth.current_user(), session_id=session_id
        )
        actor = actions.Actor(auth.current_user(), auth.request_ip())
        reply = await do(db, actor, exam_session, body, svc.now())
    return jsonify({"ok": True, **reply})


@bp.post("/api/invigilate/<int:session_id>/messages")
@auth.require_role(*STAFF)
async def message(session_id: int):
    """Message one learner ({user_id, text}) or the whole session ({text})."""

    async def do(db, actor, exam_session, body, now):
        sent = await actions.send_message(
            session=db,
            actor=actor,
            exam_session=exam_session,
            user_id=body.get("user_id"),
            text=body.get("text"),
            now=now,
        )
        return {"message_id": sent.id, "notice": "消息已发送"}

    return await _act(session_id, do)


@bp.post("/api/invigilate/<int:session_id>/extend")
@auth.require_role(*STAFF)
async def extend(session_id: int):
    """Extra time: {attempt_id, minutes, reason} for one learner, without attempt_id for all."""

    async def do(db, actor, exam_session, body, now):
        done = await actions.extend(
            session=db,
            actor=actor,
            exam_session=exam_session,
            attempt_id=body.get("attempt_id"),
            minutes=body.get("minutes"),
            reason=body.get("reason"),
            now=now,
        )
        return {"extended": done.extended, "notice": done.message}

    return await _act(session_id, do)


@bp.post("/api/invigilate/<int:session_id>/force-submit")
@auth.require_role(*STAFF)
async def force_submit(session_id: int):
    """Force-submit one learner's attempt: {attempt_id, reason}."""

    async def do(db, actor, exam_session, body, now):
        result = await actions.force_submit(
            session=db,
            actor=actor,
            exam_session=exam_session,
            attempt_id=body.get("attempt_id"),
            reason=body.get("reason"),
            now=now,
        )
        return {"notice": f"已强制交卷，得分 {result.to_dict()['score_text']} 分"}

    return await _act(session_id, do)


@bp.post("/api/invigilate/<int:session_id>/void")
@auth.require_role(*STAFF)
async def void(session_id: int):
    """Void one learner's attempt: {attempt_id, reason}."""

    async def do(db, actor, exam_session, body, now):
        result = await actions.void(
            session=db,
            actor=actor,
            exam_session=exam_session,
            attempt_id=body.get("attempt_id"),
            reason=body.get("reason"),
            now=now,
        )
        counted = "计入" if result.uses_attempt else "不计入"
        return {"notice": f"已作废，本次考试{counted}考试次数"}

    return await _act(session_id, do)
