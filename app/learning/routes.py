"""我的课程: the course table, study materials, the video page, video files and the HTTP
fallback of the heartbeat protocol (the same rules as the Socket.IO namespace /study)."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from app.accounts import auth
from app.errors import NotFound
from app.learning import answers, attention, exemptions, playback, service, study
from app.learning.files import stream_file
from app.learning.models import KIND_LABELS
from app.lib import devices
from app.lib.http import body_limit, json_body
from app.services import services

bp = Blueprint("learning", __name__)
# An answer is a token, a nonce and four characters: a larger body is refused unread (413),
# as the socket closes on a frame over its 64 KB limit (docs/realtime.md).
ANSWER_LIMIT = 4 * 1024


def _rules() -> study.StudyRules:
    return study.StudyRules.from_config(services().config)


@bp.get("/courses")
@auth.require_role("learner")
async def courses():
    """我的课程: batch requirements and progress, the course table, study materials."""
    svc = services()
    user = auth.current_user()
    now = svc.now()
    tab = "materials" if request.args.get("tab") == "materials" else "courses"
    async with svc.db.read() as db:
        batches = await service.enrolled_batches(session=db, user_id=user.id)
        batch = batches[0] if batches else None
        wanted = request.args.get("batch", type=int)
        if wanted is not None:
            batch = next((b for b in batches if b.id == wanted), None)
            if batch is None:
                raise NotFound("您未报名该培训批次")
        rows, progress, materials, shortfalls = [], None, [], []
        if batch is not None:
            rows = await service.catalogue(session=db, user_id=user.id, batch_id=batch.id, now=now)
            progress = await service.batch_progress(session=db, user_id=user.id, batch_id=batch.id)
            materials = await service.materials(session=db, batch_id=batch.id, now=now)
            shortfalls = service.study_shortfalls(progress, now=now)
    exam_url = url_for("exams.index") if "exams.index" in current_app.view_functions else None
    return await render_template(
        "learning/courses.html",
        batches=batches,
        batch=batch,
        rows=rows,
        progress=progress,
        materials=materials,
        kind_labels=KIND_LABELS,
        tab=tab,
        exam_url=exam_url,
        shortfalls=shortfalls,
        mobile=devices.is_mobile(request.headers.get("User-Agent")),
        now=now,
    )


@bp.get("/courses/video/<int:video_id>")
@auth.require_role("learner")
async def video(video_id: int):
    """The video page: player, the course's video list with progress, the rules box."""
    svc = services()
    user = auth.current_user()
    async with svc.db.read() as db:
        batch, row, state = await service.playable_course(
            session=db, user_id=user.id, video_id=video_id, now=svc.now()
        )
        exempt = await exemptions.get(session=db, user_id=user.id)
    index = row.videos.index(state)
    following = row.videos[index + 1] if index + 1 < len(row.videos) else None
    return await render_template(
        "learning/video.html",
        batch=batch,
        row=row,
        current=state,
        following=following,
        resume_ms=await playback.resume_ms(
            svc.redis,
            user_id=user.id,
            video_id=video_id,
            stored_ms=service.resume_ms(state),
            duration_ms=state.video.duration_ms,
        ),
        interval_s=_rules().beat_s,
        answer_seconds=round(_rules().answer_s),
        attention_exempt=exempt is not None,
        attention_attempts=attention.ATTEMPTS,
        attention_pause_minutes=attention.PAUSE_S // 60,
    )


@bp.get("/courses/video/<int:video_id>/file")
@auth.require_role("learner")
async def video_file(video_id: int):
    """The video file, with Range support so the player can seek and stream."""
    svc = services()
    async with svc.db.read() as db:
        path, mimetype = await service.video_file(
            session=db, config=svc.config, user_id=auth.current_user().id, video_id=video_id
        )
    return await stream_file(path, mimetype=mimetype)


@bp.get("/courses/video/<int:video_id>/poster")
@auth.require_role("learner")
async def video_poster(video_id: int):
    """The still shown in the player before the video plays."""
    svc = services()
    async with svc.db.read() as db:
        path, mimetype = await service.video_file(
            session=db,
            config=svc.config,
            user_id=auth.current_user().id,
            video_id=video_id,
            poster=True,
        )
    return await stream_file(path, mimetype=mimetype)


@bp.get("/courses/materials/<int:material_id>")
@auth.require_role("learner")
async def material(material_id: int):
    """Download a study-material archive (enrolled learners only)."""
    svc = services()
    async with svc.db.read() as db:
        item, path = await service.material_file(
            session=db,
            config=svc.config,
            user_id=auth.current_user().id,
            material_id=material_id,
            now=svc.now(),
        )
    suffix = path.suffix or ".zip"
    return await stream_file(path, mimetype="application/zip", download_name=item.title + suffix)


@bp.post("/api/study/start")
@auth.require_role("learner")
async def api_start():
    """Open a play session (HTTP fallback of the socket event `start`)."""
    body = await json_body()
    reply = await playback.start_reply(
        services(), rules=_rules(), user_id=auth.current_user().id, video_id=body.get("video_id")
    )
    return jsonify(reply)


@bp.post("/api/study/beat")
@auth.require_role("learner")
async def api_beat():
    """One heartbeat (HTTP fallback of the socket event `beat`)."""
    svc = services()
    reply = await study.beat_reply(
        db=svc.db,
        redis=svc.redis,
        rules=_rules(),
        user_id=auth.current_user().id,
        body=await json_body(),
        now=svc.now(),
    )
    return jsonify(reply)


@bp.post("/api/study/answer")
@auth.require_role("learner")
@body_limit(ANSWER_LIMIT, "提交的验证码过长（{size}），请只输入图中的 4 个字符")
async def api_answer():
    """Answer an attention check (HTTP fallback of the socket event `answer`)."""
    svc = services()
    reply = await answers.answer_reply(
        db=svc.db,
        redis=svc.redis,
        rules=_rules(),
        user_id=auth.current_user().id,
        body=await json_body(),
        now=svc.now(),
    )
    return jsonify(reply)


@bp.get("/api/study/attention/<nonce>.png")
@auth.require_role("learner")
async def attention_image(nonce: str):
    """The code of an open attention check, drawn as an image (only for its learner)."""
    png = await answers.challenge_image(
        redis=services().redis, user_id=auth.current_user().id, nonce=nonce
    )
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, no-store"})


@bp.post("/api/study/stop")
@auth.require_role("learner")
async def api_stop():
    """End a play session (HTTP fallback of the socket event `stop`)."""
    body = await json_body()
    await study.stop(
        redis=services().redis, user_id=auth.current_user().id, token=body.get("token")
    )
    return jsonify({"ok": True})
