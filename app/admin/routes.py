"""管理: the administration pages (learners, resets, imports, audit log)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import PurePath
from urllib.parse import quote

from quart import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from app.accounts import auth, sessions
from app.accounts import service as accounts
from app.accounts.models import ROLE_LABELS, Role, User
from app.admin import imports, service
from app.audit import service as audit
from app.errors import AppError, NotFound
from app.profile.routes import send_photo
from app.services import services

bp = Blueprint("admin", __name__, url_prefix="/admin")
log = logging.getLogger("safece.admin")

# The admin sub-navigation: (label, endpoint, what it is for). An entry shows once its
# endpoint exists, so other areas add their admin pages here with one line.
SECTIONS = [
    ("概览", "admin.index", ""),
    (
        "学员管理",
        "admin.learners",
        "按身份证号、姓名、工作单位查找学员；重置照片、手机号、初始密码，启用或停用账号，调整角色。",
    ),
    ("导入学员", "admin.import_form", "从 Excel 名单批量建立账号并报名批次，逐行报告错误原因。"),
    ("证书管理", "certificates.admin_list", "证书生成失败重试与撤销。"),
    ("考场管理", "invigilate.admin_sessions", "按批次安排考场（场次）与考生，指派监考员。"),
    ("操作日志", "admin.audit_log", "每一次管理操作：时间、操作人、对象、内容和 IP。"),
]
DONE_MESSAGES = {
    "photo_reset": "照片已重置，学员可重新上传照片。",
    "phone_set": "手机号已更改。",
    "phone_clear": "手机号已清除，学员可重新绑定。",
    "password_reissue": "初始密码已重新发放（身份证号后六位），该账号已登录的会话已全部退出，下次登录须修改密码。",
    "activate": "账号已启用。",
    "deactivate": "账号已停用，已登录的会话已全部退出。",
    "roles": "角色已更新。",
}
IMPORT_ERRORS_SHOWN = 500
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.app_template_global("admin_sections")
def admin_sections() -> list[tuple[str, str, str]]:
    """The admin sub-navigation whose pages exist (admin/_layout.html shows it)."""
    endpoints = current_app.view_functions
    return [(label, url_for(ep), about) for label, ep, about in SECTIONS if ep in endpoints]


async def _render(template: str, **context):
    return await render_template(
        template,
        sections=admin_sections(),
        role_labels=ROLE_LABELS,
        **context,
    )


def _int_arg(name: str, default: int | None = None) -> int | None:
    try:
        return int(request.args.get(name, ""))
    except ValueError:
        return default


def _actor() -> service.Actor:
    return service.Actor(auth.current_user().id, auth.client_ip(services().config.trust_proxy))


def _xlsx(data: bytes, filename: str, fallback: str) -> Response:
    response = Response(data, mimetype=XLSX)
    # The Chinese name goes in RFC 5987 filename*; old clients get a fixed ASCII name.
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


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
        "role": request.args.get("role", "") if request.args.get("role") in set(Role) else "",
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


async def _detail_page(user_id: int, *, error: str | None = None, status: int = 200):
    svc = services()
    async with svc.db.read() as db:
        user = await service.get_user(session=db, user_id=user_id)
        enrolments = await service.enrolments_of(session=db, user_id=user_id)
        history = await audit.get_all(session=db, target_user_id=user_id, per_page=15)
    initial_expired = user.must_change_password and accounts.initial_password_expired(
        user, config=svc.config, now=svc.now()
    )
    page = await _render(
        "admin/learner.html",
        user=user,
        enrolments=enrolments,
        history=history,
        initial_expired=initial_expired,
        is_self=user.id == auth.current_user().id,
        done=DONE_MESSAGES.get(request.args.get("done", "")),
        error=error,
        roles=list(Role),
    )
    return page, status


@bp.get("/learners/<int:user_id>")
@auth.require_role("admin")
async def learner(user_id: int):
    """One account: photo, enrolments, roles, recent audit entries and the admin actions."""
    return await _detail_page(user_id)


def _action(view: Callable) -> Callable:
    """Show a refused action's message on the detail page instead of an error page."""

    @functools.wraps(view)
    async def wrapper(user_id: int):
        try:
            return await view(user_id)
        except NotFound:
            raise
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
    await sessions.revoke_all(svc.redis, user_id)
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
    if not active:
        await sessions.revoke_all(svc.redis, user_id)
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


@bp.get("/learners/import")
@auth.require_role("admin")
async def import_form():
    """The learner import form."""
    return await _import_page()


async def _import_page(error: str | None = None, status: int = 200):
    async with services().db.read() as db:
        batches = await service.batches(session=db)
    page = await _render(
        "admin/import.html",
        error=error,
        batches=batches,
        max_mb=imports.MAX_BYTES // 1024 // 1024,
        max_rows=imports.MAX_ROWS,
    )
    return page, status


@bp.post("/learners/import")
@auth.require_role("admin")
async def import_upload():
    """Check the uploaded .xlsx at once, then let the worker write its rows."""
    svc = services()
    actor = _actor()
    try:
        if (request.content_length or 0) > imports.MAX_BYTES + 64 * 1024:
            raise AppError(
                "import_too_big",
                f"文件超过 {imports.MAX_BYTES // 1024 // 1024} MB 的上限，请拆分后导入",
            )
        upload = (await request.files).get("file")
        if upload is None or not upload.filename:
            raise AppError("import_no_file", "请选择要导入的学员名单 Excel 文件（.xlsx）")
        data = upload.read(imports.MAX_BYTES + 1)
        file_name = PurePath(upload.filename.replace("\\", "/")).name[:100]
        token = await imports.queue(svc, data, file_name=file_name, actor_id=actor.id, ip=actor.ip)
    except AppError as error:
        return await _import_page(error.message, error.status)
    return redirect(url_for("admin.import_result", token=token))


async def _load_status(token: str) -> dict:
    status = await imports.load_status(services(), token)
    if status is None:
        raise NotFound("导入结果已过期（保留24小时）或不存在，请重新导入")
    return status


@bp.get("/learners/import/<token>")
@auth.require_role("admin")
async def import_result(token: str):
    """The progress of an import, then its counts and per-row errors."""
    status = await _load_status(token)
    report = imports.ImportReport.from_dict(status["report"]) if "report" in status else None
    return await _render(
        "admin/import_result.html",
        status=status,
        report=report,
        token=token,
        shown=report.errors[:IMPORT_ERRORS_SHOWN] if report else [],
    )


@bp.get("/learners/import/<token>/errors.xlsx")
@auth.require_role("admin")
async def import_errors(token: str):
    """The refused rows of an import as an Excel file to correct and import again."""
    status = await _load_status(token)
    if "report" not in status:
        raise NotFound("导入尚未完成，请稍后再下载错误行")
    report = imports.ImportReport.from_dict(status["report"])
    data = await asyncio.to_thread(imports.error_workbook, report)
    stem = PurePath(report.file_name).stem or "学员名单"
    return _xlsx(data, f"{stem}-错误行.xlsx", "import-errors.xlsx")


@bp.get("/learners/import-template.xlsx")
@auth.require_role("admin")
async def import_template():
    """An empty learner list with the right header."""
    data = await asyncio.to_thread(imports.template_workbook)
    return _xlsx(data, "学员导入模板.xlsx", "learner-import-template.xlsx")


@bp.get("/audit")
@auth.require_role("admin")
async def audit_log():
    """Every admin action, newest first, filterable by action."""
    action = request.args.get("action", "").strip()[:50]
    async with services().db.read() as db:
        actions = await audit.filter_actions(session=db)
        page = await audit.get_all(
            session=db, action=action or None, page=_int_arg("page", 1), per_page=30
        )
    return await _render(
        "admin/audit.html",
        page=page,
        action=action,
        actions=[(code, audit.label(code)) for code in actions],
        page_url=lambda n: url_for(
            "admin.audit_log", **({"action": action} if action else {}), page=n
        ),
    )


@bp.get("/users/<int:user_id>/photo")
@auth.require_role("admin")
async def user_photo(user_id: int):
    """Any learner's photo, for admins."""
    async with services().db.read() as db:
        user = await db.get(User, user_id)
    if user is None:
        raise NotFound("学员不存在")
    return await send_photo(user)
