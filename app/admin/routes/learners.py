"""管理 > 概览 and 学员管理: the overview, learner search, the learner record and its
resets, and new learners."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

from quart import Response, redirect, request, url_for

from app.accounts import auth
from app.accounts import service as accounts
from app.admin import record, service
from app.admin.routes.common import actor as _actor
from app.admin.routes.common import bp, download, with_form_errors
from app.admin.routes.common import int_arg as _int_arg
from app.admin.routes.common import render as _render
from app.errors import AppError, Invalid, NotFound
from app.exams import records as exam_records
from app.learning import batches, exemptions
from app.lib.forms import Form
from app.profile import service as profile_service
from app.profile.photos import send_photo
from app.services import services

log = logging.getLogger("safece.admin")

DONE_MESSAGES = {
    "photo_reset": "照片已重置，学员可重新上传照片。",
    "phone_set": "手机号已更改。",
    "phone_clear": "手机号已清除，学员可重新绑定。",
    "password_reissue": "初始密码已重新发放（身份证号后六位），该账号已登录的会话已全部退出，下次登录须修改密码。",
    "activate": "账号已启用。",
    "deactivate": "账号已停用，已登录的会话已全部退出。",
    "roles": "角色已更新。",
    "unlock": "账号已解锁，学员可立即重新登录。",
    "enrolled": "已报名。",
    "moved": "已转入新批次；原批次的学习记录保留在原批次。",
    "created": "学员账号已建立，初始密码为身份证号后六位。",
    "attention_exempt": "已免除该学员的防挂机验证，立即生效：学员正在播放的视频也不再要求验证。",
    "attention_restore": "已恢复该学员的防挂机验证，从学员下次播放视频起生效。",
}
IMPORT_ERRORS_SHOWN = 500


def _xlsx(data: bytes, filename: str, fallback: str) -> Response:
    return download(data, filename, fallback)


@bp.get("")
@auth.require_role("admin")
async def index():
    """The administration home: key counts and links to the sections."""
    async with services().db.read() as db:
        counts = await service.overview(session=db)
    return await _render("admin/index.html", counts=counts)


@bp.get("/learners")
@auth.require_role("admin")
async def learners():
    """Accounts with search (ID number, name, work unit), batch/role/status filters, pages."""
    filters = {
        "q": request.args.get("q", "").strip()[:50],
        "batch": _int_arg("batch"),
        "role": request.args.get("role", "")
        if request.args.get("role") in set(service.Role)
        else "",
        "status": s if (s := request.args.get("status", "")) in service.STATUS_FILTERS else "",
    }
    async with services().db.read() as db:
        batches = await service.batches(session=db)
        page = await service.search_users(
            session=db,
            query=filters["q"],
            batch_id=filters["batch"],
            role=filters["role"],
            status=filters["status"],
            page=_int_arg("page", 1),
        )
    shown = {k: v for k, v in filters.items() if v}
    return await _render(
        "admin/learners.html",
        page=page,
        filters=filters,
        batches=batches,
        statuses=service.STATUS_FILTERS,
        page_url=lambda n: url_for("admin.learners", **shown, page=n),
    )


async def _learner_record(db, user_id: int):
    """The learner, their enrolments and the whole 学员档案, for the page and its PDF."""
    svc = services()
    user = await service.get_user(session=db, user_id=user_id)
    enrolments = await service.enrolments_of(session=db, user_id=user_id)
    learner_record = await record.build(
        session=db,
        redis=svc.redis,
        config=svc.config,
        user=user,
        enrolments=enrolments,
        now=svc.now(),
    )
    return user, enrolments, learner_record


async def _detail_page(
    user_id: int, *, error: str | None = None, status: int = 200, errors=None, form=None
):
    svc = services()
    async with svc.db.read() as db:
        user, enrolments, learner_record = await _learner_record(db, user_id)
        open_batches = await batches.get_all(session=db, include_closed=False)
    initial_expired = user.must_change_password and accounts.initial_password_expired(
        user, config=svc.config, now=svc.now()
    )
    page = await _render(
        "admin/learner.html",
        user=user,
        enrolments=enrolments,
        record=learner_record,
        open_batches=[r.batch for r in open_batches],
        initial_expired=initial_expired,
        is_self=user.id == auth.current_user().id,
        done=DONE_MESSAGES.get(request.args.get("done", "")),
        error=error,
        errors=errors or {},
        form=form,
        roles=list(service.Role),
    )
    return page, status


@bp.get("/learners/<int:user_id>")
@auth.require_role("admin")
async def learner(user_id: int):
    """学员档案: profile, photo, per-course progress, study days, attempts with their
    history, certificates, the audit trail, and the admin actions."""
    return await _detail_page(user_id)


@bp.get("/learners/<int:user_id>/record.pdf")
@auth.require_role("admin")
async def learner_pdf(user_id: int):
    """The learner record as a PDF, for a dispute."""
    svc = services()
    async with svc.db.read() as db:
        user, _, learner_record = await _learner_record(db, user_id)
    photo = profile_service.photo_path(svc.config, user) if user.photo_file else None
    data = await asyncio.to_thread(
        record.render_pdf,
        learner_record,
        photo=photo,
        centre_name=svc.config.centre_name,
        now=svc.now(),
    )
    return download(
        data, f"学员档案-{user.name}.pdf", f"learner-{user.id}.pdf", mimetype="application/pdf"
    )


def _action(view: Callable) -> Callable:
    """Show a refused action's message on the detail page instead of an error page."""

    @functools.wraps(view)
    async def wrapper(user_id: int):
        try:
            return await view(user_id)
        except NotFound:
            raise
        except Invalid as error:
            form = dict((await request.form).items())
            return await _detail_page(user_id, errors=error.fields, form=form, status=400)
        except AppError as error:
            return await _detail_page(user_id, error=error.message, status=error.status)

    return wrapper


def _done(user_id: int, what: str):
    return redirect(url_for("admin.learner", user_id=user_id, done=what))


@bp.post("/learners/<int:user_id>/photo/reset")
@auth.require_role("admin")
@_action
async def reset_photo(user_id: int):
    """Clear the learner's photo so that they can upload a new one."""
    svc = services()
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        old = await service.reset_photo(
            session=db, config=svc.config, now=svc.now(), actor=_actor(), user=user
        )
    # Only now that the change is committed may the old file go.
    if old is not None:
        await asyncio.to_thread(old.unlink, missing_ok=True)
    return _done(user_id, "photo_reset")


@bp.post("/learners/<int:user_id>/phone")
@auth.require_role("admin")
@_action
async def set_phone(user_id: int):
    """Change or clear the bound phone."""
    svc = services()
    form = await request.form
    clear = form.get("op") == "clear"
    phone = None if clear else form.get("phone", "")
    if not clear and not (phone or "").strip():
        raise AppError("phone_required", "请输入新的手机号码；如要解除绑定请点击“清除手机号”")
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        await service.set_phone(session=db, now=svc.now(), actor=_actor(), user=user, phone=phone)
    return _done(user_id, "phone_clear" if clear else "phone_set")


@bp.post("/learners/<int:user_id>/password/reissue")
@auth.require_role("admin")
@_action
async def reissue_password(user_id: int):
    """Reissue the initial password and end every session of the account."""
    svc = services()
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        await service.reissue_password(
            session=db, config=svc.config, now=svc.now(), actor=_actor(), user=user
        )
    return _done(user_id, "password_reissue")


@bp.post("/learners/<int:user_id>/active")
@auth.require_role("admin")
@_action
async def set_active(user_id: int):
    """Enable or disable the account; disabling ends its sessions."""
    svc = services()
    active = (await request.form).get("active") == "1"
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        await service.set_active(
            session=db, now=svc.now(), actor=_actor(), user=user, active=active
        )
    return _done(user_id, "activate" if active else "deactivate")


@bp.post("/learners/<int:user_id>/roles")
@auth.require_role("admin")
@_action
async def set_roles(user_id: int):
    """Replace the account's roles."""
    svc = services()
    roles = (await request.form).getlist("roles")
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        await service.set_roles(session=db, now=svc.now(), actor=_actor(), user=user, roles=roles)
    return _done(user_id, "roles")


@bp.post("/learners/<int:user_id>/unlock")
@auth.require_role("admin")
@_action
async def unlock(user_id: int):
    """Clear the failed logins that locked an account."""
    svc = services()
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        await service.unlock(
            session=db, redis=svc.redis, config=svc.config, now=svc.now(), actor=_actor(), user=user
        )
    return _done(user_id, "unlock")


@bp.post("/learners/<int:user_id>/attention")
@auth.require_role("admin")
@_action
async def set_attention(user_id: int):
    """Excuse the learner from attention checks (防挂机), with a reason, or withdraw that."""
    svc = services()
    form = await request.form
    exempt = form.get("exempt") == "1"
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        if exempt:
            await exemptions.grant(
                session=db, now=svc.now(), actor=_actor(), user=user, reason=form.get("reason")
            )
        else:
            await exemptions.revoke(session=db, now=svc.now(), actor=_actor(), user=user)
    if exempt:  # committed: the page playing now stops asking
        await exemptions.clear_live(redis=svc.redis, user_id=user_id)
    return _done(user_id, "attention_exempt" if exempt else "attention_restore")


@bp.post("/learners/<int:user_id>/enrol")
@auth.require_role("admin")
@_action
async def enrol(user_id: int):
    """Enrol the learner in a batch."""
    svc = services()
    batch_id = _form_int(await request.form, "batch_id", "批次")
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        batch = await batches.get(session=db, batch_id=batch_id)
        if not await batches.enrol(
            session=db, now=svc.now(), actor=_actor(), batch=batch, user=user
        ):
            raise AppError("already_enrolled", f"该学员已报名《{batch.name}》")
    return _done(user_id, "enrolled")


@bp.post("/learners/<int:user_id>/move")
@auth.require_role("admin")
@_action
async def move(user_id: int):
    """Move the learner from one batch to another."""
    svc = services()
    form = await request.form
    source_id = _form_int(form, "source_id", "原批次")
    target_id = _form_int(form, "target", "转入批次")
    async with svc.db.write() as db:
        user = await service.get_user(session=db, user_id=user_id)
        source = await batches.get(session=db, batch_id=source_id)
        target = await batches.get(session=db, batch_id=target_id)
        sat = await exam_records.attempt_count(session=db, user_id=user_id, batch_id=source_id)
        await batches.move(
            session=db,
            now=svc.now(),
            actor=_actor(),
            user=user,
            source=source,
            target=target,
            attempts_in_source=sat,
        )
    return _done(user_id, "moved")


def _form_int(form, name: str, label: str) -> int:
    reader = Form(form)
    value = reader.integer(name, label, low=1, high=2**31 - 1)
    if reader.errors:
        raise Invalid({name: f"请选择{label}"})
    return value


async def _new_learner_page(errors=None, form=None):
    async with services().db.read() as db:
        open_batches = await batches.get_all(session=db, include_closed=False)
    defaults = {"batch_id": request.args.get("batch", "")}
    return await _render(
        "admin/learner_new.html",
        errors=errors or {},
        form=form if form is not None else defaults,
        open_batches=[r.batch for r in open_batches],
    )


@bp.get("/learners/new")
@auth.require_role("admin")
async def learner_new():
    """The form to create one learner by hand."""
    return await _new_learner_page()


@bp.post("/learners/new")
@auth.require_role("admin")
@with_form_errors(lambda errors, form: _new_learner_page(errors, form))
async def learner_create():
    """Create one learner (initial password: last six of the ID) and enrol them."""
    svc = services()
    form = await request.form
    batch_id = form.get("batch_id") or ""
    async with svc.db.write() as db:
        user = await service.create_learner(
            session=db,
            config=svc.config,
            now=svc.now(),
            actor=_actor(),
            fields={k: form.get(k, "") for k in ("id_number", "name", "gender", "work_unit")},
        )
        if batch_id:
            try:
                batch = await batches.get(session=db, batch_id=int(batch_id))
            except (ValueError, NotFound):
                raise Invalid({"batch_id": "请选择批次"}) from None
            try:
                await batches.enrol(
                    session=db, now=svc.now(), actor=_actor(), batch=batch, user=user
                )
            except AppError as error:
                raise Invalid({"batch_id": error.message}) from None
    return _done(user.id, "created")


@bp.get("/users/<int:user_id>/photo")
@auth.require_role("admin")
async def user_photo(user_id: int):
    """Any learner's photo, for admins."""
    async with services().db.read() as db:
        user = await service.get_user(session=db, user_id=user_id)
    return await send_photo(user)
