"""Chunked, resumable uploads of videos and study materials (JSON, driven by uploader.js)."""

from __future__ import annotations

import asyncio
import secrets

from quart import jsonify, request, url_for

from app.accounts import auth
from app.admin.routes.common import actor, admin_page, bp
from app.errors import AppError, Invalid
from app.learning import batches, catalog, materials, video_catalog, videos
from app.lib import http, uploads
from app.lib.http import body_limit, json_body
from app.services import services

PURPOSES = ("video", "material")


def _owner() -> int:
    return auth.current_user().id


async def _check_target(purpose: str, target: dict) -> int:
    """That an upload's destination exists; returns the size limit for it."""
    svc = services()
    if not isinstance(target, dict) or not all(http.is_id(v) for v in target.values()):
        raise AppError("bad_request", "请求格式不正确")
    async with svc.db.read() as db:
        if purpose == "video":
            if "video_id" in target:
                await video_catalog.get_video(session=db, video_id=target["video_id"])
            else:
                await catalog.get(session=db, course_id=target.get("course_id", 0))
            return svc.config.video_max_bytes
        if "material_id" in target:
            await materials.get_material(session=db, material_id=target["material_id"])
        else:
            await batches.get(session=db, batch_id=target.get("batch_id", 0))
        return svc.config.material_max_bytes


@bp.post("/uploads")
@admin_page
async def upload_begin():
    """Start (or resume) an upload: the page then sends chunks from ``received`` on."""
    svc = services()
    body = await json_body()
    purpose = body.get("purpose")
    name, size, fingerprint = body.get("name"), body.get("size"), body.get("fingerprint")
    if (
        purpose not in PURPOSES
        or not isinstance(name, str)
        or not http.is_int(size, 0, 2**63)
        or not isinstance(fingerprint, str)
    ):
        raise AppError("bad_request", "请求格式不正确")
    target = body.get("target") or {}
    limit = await _check_target(purpose, target)
    upload = await uploads.begin(
        svc.redis,
        svc.config.data_dir,
        owner_id=_owner(),
        purpose=purpose,
        target=target,
        name=name,
        size=size,
        fingerprint=fingerprint[:300],
        max_bytes=limit,
        quota_bytes=svc.config.upload_quota_bytes,
    )
    return jsonify({"ok": True, **upload.to_dict(), "chunk": 8 * 1024 * 1024})


@bp.get("/uploads/<token>")
@admin_page
async def upload_status(token: str):
    """How much of an upload the server holds (to resume after a dropped connection)."""
    svc = services()
    upload = await uploads.load(svc.redis, svc.config.data_dir, token, owner_id=_owner())
    return jsonify({"ok": True, **upload.to_dict()})


@bp.put("/uploads/<token>")
@admin_page
@body_limit(uploads.CHUNK_MAX, "单次上传的数据块过大（上限 {limit}）")
async def upload_chunk(token: str):
    """One chunk at ?offset=N; a chunk at the wrong offset answers 409 with the right one."""
    svc = services()
    try:
        offset = int(request.args.get("offset", ""))
    except ValueError:
        raise AppError("bad_request", "缺少上传位置") from None
    upload = await uploads.append(
        svc.redis,
        svc.config.data_dir,
        token,
        owner_id=_owner(),
        offset=offset,
        body=request.body,
    )
    return jsonify({"ok": True, **upload.to_dict()})


@bp.delete("/uploads/<token>")
@admin_page
async def upload_cancel(token: str):
    """Give up an upload and delete what arrived."""
    svc = services()
    await uploads.load(svc.redis, svc.config.data_dir, token, owner_id=_owner())
    await uploads.discard(svc.redis, svc.config.data_dir, token)
    return jsonify({"ok": True})


@bp.post("/uploads/<token>/finish")
@admin_page
async def upload_finish(token: str):
    """Turn a complete upload into a video or a material; a file that is refused is deleted."""
    svc = services()
    body = await json_body()
    upload, part = await uploads.finished(svc.redis, svc.config.data_dir, token, owner_id=_owner())
    try:
        if upload.purpose == "video":
            reply = await _finish_video(upload, part, body)
        else:
            reply = await _finish_material(upload, part, body)
    except AppError as error:
        if error.code not in ("confirm", "invalid"):
            await uploads.discard(svc.redis, svc.config.data_dir, token)
        raise
    await uploads.discard(svc.redis, svc.config.data_dir, token)
    return jsonify({"ok": True, **reply})


async def _finish_video(upload: uploads.Upload, part, body: dict) -> dict:
    svc = services()
    target = upload.target
    title = body.get("title") if isinstance(body.get("title"), str) else ""
    if "video_id" in target:
        async with svc.db.read() as db:
            video = await video_catalog.get_video(session=db, video_id=target["video_id"])
        info = await videos.probe(part)
        async with svc.db.read() as db:
            plan = await video_catalog.replacement(session=db, video=video, new_ms=info.duration_ms)
        if not plan.same_duration and body.get("confirm") is not True:
            raise AppError("confirm", plan.message, 409, confirm=True)
    media = await videos.store(svc.config.data_dir, part, name=secrets.token_hex(12))
    try:
        async with svc.db.write() as db:
            if "video_id" in target:
                video = await video_catalog.get_video(session=db, video_id=target["video_id"])
                plan, unused = await video_catalog.replace_video(
                    session=db, now=svc.now(), actor=actor(), video=video, media=media
                )
                message, course_id = "视频已替换。" + plan.message, video.course_id
            else:
                course = await catalog.get(session=db, course_id=target["course_id"])
                video = await video_catalog.add_video(
                    session=db,
                    now=svc.now(),
                    actor=actor(),
                    course=course,
                    title=title.strip() or upload.name.rsplit(".", 1)[0],
                    media=media,
                )
                message, course_id, unused = "视频已上传。", course.id, []
    except Exception:
        videos.remove_files(svc.config.data_dir, [f for f in (media.file, media.poster) if f])
        raise
    await asyncio.to_thread(videos.remove_files, svc.config.data_dir, unused)
    return {
        "message": message,
        "redirect": url_for("admin.course", course_id=course_id, done="video") + "#videos",
    }


async def _finish_material(upload: uploads.Upload, part, body: dict) -> dict:
    svc = services()
    with open(part, "rb") as f:
        suffix = materials.material_suffix(f.read(8))
    target = upload.target
    fields = {k: body.get(k) for k in ("title", "kind", "course_id")}
    if "material_id" not in target:
        errors = {}
        if not isinstance(fields["title"], str) or not fields["title"].strip():
            errors["title"] = "请填写资料名称"
        if fields["course_id"] not in (None, "") and not str(fields["course_id"]).isdigit():
            errors["course_id"] = "请选择课程"
        if errors:
            raise Invalid(errors)
    name = f"materials/{secrets.token_hex(12)}{suffix}"
    dest = videos.media_dir(svc.config.data_dir) / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    part.replace(dest)
    try:
        async with svc.db.write() as db:
            if "material_id" in target:
                item = await materials.get_material(session=db, material_id=target["material_id"])
                unused = await materials.replace_material(
                    session=db,
                    now=svc.now(),
                    actor=actor(),
                    item=item,
                    file=name,
                    size_bytes=dest.stat().st_size,
                )
                batch_id = item.batch_id
            else:
                batch = await batches.get(session=db, batch_id=target["batch_id"])
                course_id = fields["course_id"]
                await materials.add_material(
                    session=db,
                    now=svc.now(),
                    actor=actor(),
                    batch=batch,
                    kind=fields["kind"] or "",
                    title=fields["title"],
                    course_id=int(course_id) if course_id not in (None, "") else None,
                    file=name,
                    size_bytes=dest.stat().st_size,
                )
                batch_id, unused = batch.id, []
    except Exception:
        videos.remove_files(svc.config.data_dir, [name])
        raise
    await asyncio.to_thread(videos.remove_files, svc.config.data_dir, unused)
    return {
        "message": "导学资料已保存。",
        "redirect": url_for("admin.batch", batch_id=batch_id, done="material_saved") + "#materials",
    }
