"""管理 > 注册规则, 资格信息, 注册机构, 注册人员: the registration admin pages, listed in
the admin menu (app/lib/admin_menu.py) and served here."""

from __future__ import annotations

import asyncio
from pathlib import PurePath

from quart import redirect, request, url_for

from app.accounts import documents
from app.admin.routes.common import actor, admin_page, bp, download, render
from app.clock import local_date
from app.errors import AppError, NotFound
from app.lib.http import body_limit
from app.registration import authorities, qualifications, registry, rules
from app.registration.channels import CHANNELS
from app.services import services

DONE = {
    "rules_version": "已保存为新版本（尚未启用）。",
    "rules_select": "已启用该版本，此后新建的申请按此规则办理。",
    "authority_add": "注册机构已新增。",
    "authority_active": "已更新注册机构状态。",
    "reviewer_add": "已指派注册初审人员。",
    "reviewer_remove": "已取消该注册初审人员。",
    "cancel": "注册已注销，核验页面将显示“已注销”。",
}


async def _render(template: str, status: int = 200, **context):
    page = await render(template, done=DONE.get(request.args.get("done", "")), **context)
    return page, status


def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


# ---------------------------------------------------------------------------- rules


async def _rules_page(error: str | None = None, status: int = 200):
    async with services().db.read() as db:
        rule_sets = await rules.get_all(session=db)
    return await _render(
        "admin/registration_rules.html",
        status,
        rule_sets=rule_sets,
        fields=rules.FIELDS,
        presets=rules.PRESETS,
        months_text=rules.months_text,
        error=error,
    )


@bp.get("/registration/rules")
@admin_page
async def rules_list():
    """注册规则: the versions, which one is in force, editing as a new version."""
    return await _rules_page()


@bp.post("/registration/rules/<int:rule_set_id>/version")
@admin_page
async def rules_version(rule_set_id: int):
    svc = services()
    who = actor()
    form = {k: v for k, v in (await request.form).items()}
    try:
        async with svc.db.write() as db:
            await rules.new_version(
                session=db,
                base_id=rule_set_id,
                form=form,
                now=svc.now(),
                actor_id=who.id,
                ip=who.ip,
            )
    except NotFound:
        raise
    except AppError as error:
        return await _rules_page(error.message, error.status)
    return redirect(url_for("admin.rules_list", done="rules_version"))


@bp.post("/registration/rules/<int:rule_set_id>/select")
@admin_page
async def rules_select(rule_set_id: int):
    svc = services()
    who = actor()
    async with svc.db.write() as db:
        await rules.select_current(
            session=db, rule_set_id=rule_set_id, now=svc.now(), actor_id=who.id, ip=who.ip
        )
    return redirect(url_for("admin.rules_list", done="rules_select"))


# ---------------------------------------------------------------------------- qualifications


async def _qualifications_page(error: str | None = None, status: int = 200, report=None):
    query = request.args.get("q", "").strip()[:50]
    async with services().db.read() as db:
        page = await qualifications.search(session=db, query=query, page=_page_arg())
    return await _render(
        "admin/registration_qualifications.html",
        status,
        page=page,
        query=query,
        report=report,
        error=error,
        headers=qualifications.HEADERS,
        id_labels=documents.LABELS,
        page_url=lambda n: url_for("admin.qualifications_list", q=query, page=n),
    )


@bp.get("/registration/qualifications")
@admin_page
async def qualifications_list():
    """资格信息: search the records, import an .xlsx with a per-row report."""
    return await _qualifications_page()


@bp.post("/registration/qualifications/import")
@admin_page
@body_limit(qualifications.MAX_BYTES + 64 * 1024, "文件超过 5 MB 的上限，请拆分后导入")
async def qualifications_import():
    svc = services()
    who = actor()
    try:
        upload = (await request.files).get("file")
        if upload is None or not upload.filename:
            raise AppError("import_no_file", "请选择要导入的资格信息 Excel 文件（.xlsx）")
        data = upload.read(qualifications.MAX_BYTES + 1)
        name = PurePath(upload.filename.replace("\\", "/")).name[:100]
        rows = await asyncio.to_thread(qualifications.read_rows, data, file_name=name)
        async with svc.db.write() as db:
            report = await qualifications.import_rows(
                session=db, rows=rows, file_name=name, now=svc.now(), actor_id=who.id, ip=who.ip
            )
    except AppError as error:
        return await _qualifications_page(error.message, error.status)
    return await _qualifications_page(report=report)


@bp.get("/registration/qualifications/template.xlsx")
@admin_page
async def qualifications_template():
    data = await asyncio.to_thread(qualifications.template_workbook)
    return download(data, "资格信息导入模板.xlsx", "qualifications.xlsx")


# ---------------------------------------------------------------------------- authorities


async def _authorities_page(error: str | None = None, status: int = 200):
    async with services().db.read() as db:
        rows = await authorities.get_all(session=db)
    return await _render(
        "admin/registration_authorities.html",
        status,
        rows=rows,
        channels=CHANNELS,
        id_types=documents.LABELS,
        error=error,
    )


@bp.get("/registration/authorities")
@admin_page
async def authorities_list():
    """注册机构: the authorities per channel and the 注册初审 accounts of each."""
    return await _authorities_page()


async def _authority_action(work, done: str):
    svc = services()
    who = actor()
    form = await request.form
    try:
        async with svc.db.write() as db:
            await work(db, form, svc.now(), who)
    except NotFound:
        raise
    except AppError as error:
        return await _authorities_page(error.message, error.status)
    return redirect(url_for("admin.authorities_list", done=done))


@bp.post("/registration/authorities")
@admin_page
async def authorities_add():
    async def work(db, form, now, who):
        await authorities.create(
            session=db,
            name=form.get("name", ""),
            channel=form.get("channel", ""),
            now=now,
            actor_id=who.id,
            ip=who.ip,
        )

    return await _authority_action(work, "authority_add")


@bp.post("/registration/authorities/<int:authority_id>/active")
@admin_page
async def authorities_active(authority_id: int):
    async def work(db, form, now, who):
        await authorities.set_active(
            session=db,
            authority_id=authority_id,
            active=form.get("active") == "1",
            now=now,
            actor_id=who.id,
            ip=who.ip,
        )

    return await _authority_action(work, "authority_active")


@bp.post("/registration/authorities/<int:authority_id>/reviewers")
@admin_page
async def authorities_reviewer_add(authority_id: int):
    async def work(db, form, now, who):
        await authorities.add_reviewer(
            session=db,
            authority_id=authority_id,
            id_type=form.get("id_type", ""),
            number=form.get("id_number", ""),
            now=now,
            actor_id=who.id,
            ip=who.ip,
        )

    return await _authority_action(work, "reviewer_add")


@bp.post("/registration/authorities/<int:authority_id>/reviewers/<int:user_id>/remove")
@admin_page
async def authorities_reviewer_remove(authority_id: int, user_id: int):
    async def work(db, form, now, who):
        await authorities.remove_reviewer(
            session=db,
            authority_id=authority_id,
            user_id=user_id,
            now=now,
            actor_id=who.id,
            ip=who.ip,
        )

    return await _authority_action(work, "reviewer_remove")


# ---------------------------------------------------------------------------- registrations


async def _registrations_page(error: str | None = None, status: int = 200):
    svc = services()
    query = request.args.get("q", "").strip()[:50]
    async with svc.db.read() as db:
        page = await registry.admin_list(session=db, query=query, page=_page_arg())
    return await _render(
        "admin/registration_registrations.html",
        status,
        page=page,
        query=query,
        today=local_date(svc.now()),
        state=registry.state,
        state_labels=registry.STATE_LABELS,
        error=error,
        page_url=lambda n: url_for("admin.registrations_list", q=query, page=n),
    )


@bp.get("/registration/registrations")
@admin_page
async def registrations_list():
    """注册人员: issued registrations, with 注销."""
    return await _registrations_page()


@bp.post("/registration/registrations/<int:registration_id>/cancel")
@admin_page
async def registrations_cancel(registration_id: int):
    svc = services()
    who = actor()
    form = await request.form
    try:
        async with svc.db.write() as db:
            await registry.cancel(
                session=db,
                registration_id=registration_id,
                reason=form.get("reason", ""),
                fraud=form.get("fraud") == "1",
                now=svc.now(),
                actor_id=who.id,
                ip=who.ip,
            )
    except NotFound:
        raise
    except AppError as error:
        return await _registrations_page(error.message, error.status)
    return redirect(url_for("admin.registrations_list", done="cancel"))
