"""管理 > 导入学员: the Excel learner list, checked at once and written by the worker."""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePath

from quart import Response, redirect, request, url_for

from app.accounts import auth
from app.admin import imports, service
from app.admin.routes.common import actor as _actor
from app.admin.routes.common import bp, download
from app.admin.routes.common import render as _render
from app.errors import AppError, NotFound
from app.lib.http import body_limit
from app.services import services

log = logging.getLogger("safece.admin")

IMPORT_ERRORS_SHOWN = 500


def _xlsx(data: bytes, filename: str, fallback: str) -> Response:
    return download(data, filename, fallback)


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
@body_limit(
    imports.MAX_BYTES + 64 * 1024,
    f"文件超过 {imports.MAX_BYTES // 1024 // 1024} MB 的上限，请拆分后导入",
)
async def import_upload():
    """Check the uploaded .xlsx at once, then let the worker write its rows."""
    svc = services()
    actor = _actor()
    try:
        upload = (await request.files).get("file")
        if upload is None or not upload.filename:
            raise AppError("import_no_file", "请选择要导入的学员名单 Excel 文件（.xlsx）")
        data = upload.read(imports.MAX_BYTES + 1)
        file_name = PurePath(upload.filename.replace("\\", "/")).name[:100]
        rows = await asyncio.to_thread(imports.read_sheet, data, file_name)
        async with svc.db.read() as db:
            prepared = await imports.check(
                session=db, now=svc.now(), rows=rows, file_name=file_name
            )
        token = await imports.queue(
            svc,
            data,
            file_name=file_name,
            total=len(prepared.planned),
            actor_id=actor.id,
            ip=actor.ip,
        )
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
