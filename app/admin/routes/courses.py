"""课程管理: courses, their videos (uploaded by uploader.js), reuse across batches."""

from __future__ import annotations

import asyncio

from quart import redirect, request, url_for

from app.admin.routes.common import actor, admin_page, bp, int_arg, render, with_form_errors
from app.errors import AppError, Invalid, NotFound
from app.learning import batches, catalog, materials, video_catalog, videos
from app.learning.files import stream_file
from app.learning.service import media_path
from app.lib.forms import Form
from app.services import services

DONE = {
    "created": "课程已建立，请上传视频。",
    "saved": "课程已保存。",
    "unchanged": "没有修改任何内容。",
    "withdrawn": "课程已下架：学过的学员保留记录，不再计入新的学习时长。",
    "relisted": "课程已重新上架。",
    "copied": "课程已复用到所选批次。",
    "video": "视频已保存。",
    "video_deleted": "视频已删除。",
    "moved": "顺序已调整。",
}


def course_input(data) -> catalog.CourseInput:
    form = Form(data)
    values = catalog.CourseInput(
        name=form.text("name", "课程名称", max_len=200),
        lecturer=form.text("lecturer", "主讲人", max_len=50),
        kind=form.choice("kind", "课程类型", catalog.KIND_LABELS),
        required=form.flag("required"),
        deadline=form.when("deadline", "截止日期", required=False),
    )
    form.check()
    return values


@bp.get("/courses", endpoint="courses")
@admin_page
async def courses_list():
    """Every course by batch, with minutes, videos, learners and status."""
    batch_id = int_arg("batch")
    query = request.args.get("q", "").strip()[:50]
    async with services().db.read() as db:
        rows = await catalog.get_all(session=db, batch_id=batch_id, query=query)
        batch_rows = await batches.get_all(session=db)
    return await render(
        "admin/courses.html",
        rows=rows,
        batch_rows=batch_rows,
        batch_id=batch_id,
        query=query,
        now=services().now(),
    )


async def _new_page(errors=None, form=None):
    async with services().db.read() as db:
        batch_rows = await batches.get_all(session=db, include_closed=False)
    defaults = {"batch_id": request.args.get("batch", ""), "kind": "public"}
    return await render(
        "admin/course_new.html",
        errors=errors or {},
        form=form,
        defaults=defaults,
        batch_rows=batch_rows,
        kinds=list(catalog.KIND_LABELS.items()),
    )


@bp.get("/courses/new")
@admin_page
async def course_new():
    """The new course form."""
    return await _new_page()


@bp.post("/courses/new")
@admin_page
@with_form_errors(lambda errors, form: _new_page(errors, form))
async def course_create():
    """Create a course at the end of its batch."""
    svc = services()
    data = await request.form
    values = course_input(data)
    reader = Form(data)
    batch_id = reader.integer("batch_id", "批次", low=1, high=2**31 - 1)
    if reader.errors:
        raise Invalid({"batch_id": "请选择批次"})
    async with svc.db.write() as db:
        try:
            batch = await batches.get(session=db, batch_id=batch_id)
        except NotFound:
            raise Invalid({"batch_id": "请选择批次"}) from None
        course = await catalog.create(
            session=db, now=svc.now(), actor=actor(), batch=batch, values=values
        )
    return redirect(url_for("admin.course", course_id=course.id, done="created"))


async def _course_page(course_id: int, *, errors=None, form=None, which="", status_error=None):
    svc = services()
    async with svc.db.read() as db:
        course = await catalog.get(session=db, course_id=course_id)
        batch = await batches.get(session=db, batch_id=course.batch_id)
        video_list = await video_catalog.videos_of(session=db, course_id=course_id)
        using = await catalog.batches_using(session=db, course=course)
        batch_rows = await batches.get_all(session=db, include_closed=False)
        learners = await catalog.credited_learners(session=db, course_id=course_id)
    return await render(
        "admin/course.html",
        course=course,
        batch=batch,
        videos=video_list,
        using=using,
        other_batches=[r.batch for r in batch_rows if r.batch.id not in {b.id for _, b in using}],
        learners=learners,
        errors=errors or {},
        form=form,
        which=which,
        kinds=list(catalog.KIND_LABELS.items()),
        done=DONE.get(request.args.get("done", "")),
        now=svc.now(),
        max_mb=svc.config.video_max_bytes // 1024**2,
    )


@bp.get("/courses/<int:course_id>")
@admin_page
async def course(course_id: int):
    """One course: its description, videos, and the batches using it."""
    return await _course_page(course_id)


def _form_page(which: str):
    return lambda course_id, errors, form: _course_page(
        course_id, errors=errors, form=form, which=which
    )


def _done(course_id: int, what: str, anchor: str = ""):
    return redirect(url_for("admin.course", course_id=course_id, done=what) + anchor)


@bp.post("/courses/<int:course_id>")
@admin_page
@with_form_errors(_form_page("settings"))
async def course_update(course_id: int):
    """Save a course's description."""
    svc = services()
    values = course_input(await request.form)
    async with svc.db.write() as db:
        item = await catalog.get(session=db, course_id=course_id)
        changes = await catalog.update_course(
            session=db, now=svc.now(), actor=actor(), course=item, values=values
        )
    return _done(course_id, "saved" if changes else "unchanged")


async def _refusal(course_id: int, name: str, error: AppError):
    return await _course_page(course_id, errors={name: error.message}, which=name), 400


@bp.post("/courses/<int:course_id>/withdraw")
@admin_page
async def course_withdraw(course_id: int):
    """下架 a course now."""
    svc = services()
    try:
        async with svc.db.write() as db:
            item = await catalog.get(session=db, course_id=course_id)
            await catalog.withdraw(session=db, now=svc.now(), actor=actor(), course=item)
    except AppError as error:
        if error.status == 404:
            raise
        return await _refusal(course_id, "withdraw", error)
    return _done(course_id, "withdrawn")


@bp.post("/courses/<int:course_id>/relist")
@admin_page
@with_form_errors(_form_page("relist"))
async def course_relist(course_id: int):
    """Put a withdrawn course back, with a new deadline or none."""
    svc = services()
    form = Form(await request.form)
    deadline = form.when("deadline", "新的截止日期", required=False)
    form.check()
    async with svc.db.write() as db:
        item = await catalog.get(session=db, course_id=course_id)
        await catalog.relist(
            session=db, now=svc.now(), actor=actor(), course=item, deadline=deadline
        )
    return _done(course_id, "relisted")


@bp.post("/courses/<int:course_id>/move")
@admin_page
async def course_move(course_id: int):
    """Move a course up or down in its batch."""
    svc = services()
    up = (await request.form).get("dir") == "up"
    async with svc.db.write() as db:
        item = await catalog.get(session=db, course_id=course_id)
        await catalog.move(session=db, now=svc.now(), actor=actor(), course=item, up=up)
    return redirect(url_for("admin.courses", batch=item.batch_id))


@bp.post("/courses/<int:course_id>/delete")
@admin_page
async def course_delete(course_id: int):
    """Delete a course nobody has studied (others are withdrawn instead)."""
    svc = services()
    try:
        async with svc.db.write() as db:
            item = await catalog.get(session=db, course_id=course_id)
            unused = await catalog.delete_course(
                session=db, now=svc.now(), actor=actor(), course=item
            )
    except AppError as error:
        if error.status == 404:
            raise
        return await _refusal(course_id, "delete", error)
    await asyncio.to_thread(videos.remove_files, svc.config.data_dir, unused)
    return redirect(url_for("admin.courses", batch=item.batch_id))


@bp.post("/courses/<int:course_id>/copy")
@admin_page
@with_form_errors(_form_page("copy"))
async def course_copy(course_id: int):
    """Reuse a course in another batch."""
    svc = services()
    form = Form(await request.form)
    batch_id = form.integer("batch_id", "批次", low=1, high=2**31 - 1)
    form.check()
    async with svc.db.write() as db:
        item = await catalog.get(session=db, course_id=course_id)
        try:
            target = await batches.get(session=db, batch_id=batch_id)
        except NotFound:
            raise Invalid({"batch_id": "请选择批次"}) from None
        await catalog.copy_to(session=db, now=svc.now(), actor=actor(), course=item, batch=target)
    return _done(course_id, "copied", "#using")


# ---------------------------------------------------------------------------- videos


@bp.post("/videos/<int:video_id>/title")
@admin_page
async def video_title(video_id: int):
    """Rename a video."""
    svc = services()
    title = (await request.form).get("title", "")
    async with svc.db.write() as db:
        video = await video_catalog.get_video(session=db, video_id=video_id)
        try:
            await video_catalog.update_video(
                session=db, now=svc.now(), actor=actor(), video=video, title=title
            )
        except Invalid as error:
            course_id = video.course_id
            refusal = error
        else:
            refusal = None
    if refusal is not None:
        return await _course_page(course_id, errors=refusal.fields, which=f"video-{video_id}"), 400
    return _done(video.course_id, "video", "#videos")


@bp.post("/videos/<int:video_id>/move")
@admin_page
async def video_move(video_id: int):
    """Move a video up or down in its course."""
    svc = services()
    up = (await request.form).get("dir") == "up"
    async with svc.db.write() as db:
        video = await video_catalog.get_video(session=db, video_id=video_id)
        await video_catalog.move_video(session=db, now=svc.now(), actor=actor(), video=video, up=up)
    return _done(video.course_id, "moved", "#videos")


@bp.post("/videos/<int:video_id>/delete")
@admin_page
async def video_delete(video_id: int):
    """Delete a video nobody has watched."""
    svc = services()
    async with svc.db.read() as db:
        course_id = (await video_catalog.get_video(session=db, video_id=video_id)).course_id
    try:
        async with svc.db.write() as db:
            video = await video_catalog.get_video(session=db, video_id=video_id)
            unused = await video_catalog.delete_video(
                session=db, now=svc.now(), actor=actor(), video=video
            )
    except AppError as error:
        if error.status == 404:
            raise
        return await _refusal(course_id, f"video-{video_id}", error)
    await asyncio.to_thread(videos.remove_files, svc.config.data_dir, unused)
    return _done(course_id, "video_deleted", "#videos")


async def _video_media(video_id: int, poster: bool):
    svc = services()
    async with svc.db.read() as db:
        video = await video_catalog.get_video(session=db, video_id=video_id)
    name = video.poster if poster else video.file
    if not name:
        raise NotFound("该视频没有封面")
    path = media_path(svc.config, name)
    return await stream_file(path, mimetype="image/jpeg" if poster else video.mimetype)


@bp.get("/videos/<int:video_id>/poster")
@admin_page
async def video_poster(video_id: int):
    """A video's poster frame."""
    return await _video_media(video_id, poster=True)


@bp.get("/videos/<int:video_id>/file")
@admin_page
async def video_file(video_id: int):
    """A video, for the admin to check it plays."""
    return await _video_media(video_id, poster=False)


@bp.post("/materials/<int:material_id>/delete")
@admin_page
async def material_delete(material_id: int):
    """Remove a study material."""
    svc = services()
    async with svc.db.write() as db:
        item = await materials.get_material(session=db, material_id=material_id)
        unused = await materials.delete_material(
            session=db, now=svc.now(), actor=actor(), item=item
        )
    await asyncio.to_thread(videos.remove_files, svc.config.data_dir, unused)
    return redirect(url_for("admin.batch", batch_id=item.batch_id, done="material") + "#materials")
