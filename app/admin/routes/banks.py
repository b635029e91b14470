"""题库管理: banks, importing questions, browsing, previewing, editing, statistics."""

from __future__ import annotations

import asyncio
import json
from pathlib import PurePath

from quart import redirect, request, url_for

from app.admin.routes.common import (
    actor,
    admin_page,
    bp,
    download,
    int_arg,
    render,
    with_form_errors,
)
from app.errors import AppError
from app.exams import banks, importer, statistics
from app.exams import paper as papers
from app.lib.http import body_limit
from app.services import services

DONE = {
    "created": "题库已建立，请导入试题。",
    "saved": "试题已保存。",
    "unchanged": "没有修改任何内容。",
    "activated": "试题已启用。",
    "deactivated": "试题已停用，以后的试卷不再抽到该题；已出的试卷不受影响。",
    "deleted": "试题已删除。",
}
STATES = {"active": "启用", "inactive": "已停用"}


async def _banks_page(errors=None, form=None):
    async with services().db.read() as db:
        rows = await banks.get_all(session=db)
    return await render(
        "admin/banks.html", rows=rows, type_labels=banks.TYPE_LABELS, errors=errors or {}, form=form
    )


@bp.get("/banks", endpoint="banks")
@admin_page
async def banks_list():
    """Every bank with its questions per type and the batches that draw from it."""
    return await _banks_page()


@bp.post("/banks")
@admin_page
@with_form_errors(_banks_page)
async def bank_create():
    """Create an empty bank."""
    svc = services()
    name = (await request.form).get("name", "")
    async with svc.db.write() as db:
        bank = await banks.create(session=db, now=svc.now(), actor=actor(), name=name)
    return redirect(url_for("admin.bank", bank_id=bank.id, done="created"))


def _filters() -> banks.QuestionFilter:
    qtype = request.args.get("type", "")
    state = request.args.get("state", "")
    return banks.QuestionFilter(
        type=qtype if qtype in banks.TYPE_LABELS else "",
        chapter=request.args.get("chapter", "").strip()[:100],
        state=state if state in STATES else "",
        q=request.args.get("q", "").strip()[:50],
    )


async def _bank_page(bank_id: int, *, report=None, import_error=None):
    svc = services()
    filters = _filters()
    async with svc.db.read() as db:
        bank = await banks.get(session=db, bank_id=bank_id)
        row = next(r for r in await banks.get_all(session=db) if r.bank.id == bank_id)
        chapter_list = await banks.chapters(session=db, bank_id=bank_id)
        page = await banks.browse(
            session=db, bank_id=bank_id, filters=filters, page=int_arg("page", 1)
        )
        stats = await statistics.question_stats(session=db, question_ids={q.id for q in page.items})
    shown = {k: v for k, v in vars(filters).items() if v}
    return await render(
        "admin/bank.html",
        bank=bank,
        row=row,
        chapters=chapter_list,
        page=page,
        stats=stats,
        filters=filters,
        states=STATES,
        type_labels=banks.TYPE_LABELS,
        report=report,
        import_error=import_error,
        max_mb=importer.MAX_BYTES // 1024**2,
        done=DONE.get(request.args.get("done", "")),
        page_url=lambda n: url_for("admin.bank", bank_id=bank_id, **shown, page=n),
    )


@bp.get("/banks/import-template.xlsx")
@admin_page
async def bank_template():
    """试题导入模板: the columns, an example of each question type and the rules."""
    data = await asyncio.to_thread(importer.template_workbook)
    return download(data, "试题导入模板.xlsx", "question-import-template.xlsx")


@bp.get("/banks/<int:bank_id>")
@admin_page
async def bank(bank_id: int):
    """A bank's questions, filtered by type, chapter and state, with their statistics."""
    return await _bank_page(bank_id)


@bp.post("/banks/<int:bank_id>/import")
@admin_page
@body_limit(
    importer.MAX_BYTES + 64 * 1024, f"文件超过 {importer.MAX_BYTES // 1024**2} MB，请拆分后导入"
)
async def bank_import(bank_id: int):
    """Import an .xlsx/.csv file; every refused row is listed with its reason."""
    svc = services()
    try:
        upload = (await request.files).get("file")
        if upload is None or not upload.filename:
            raise AppError("import_no_file", "请选择要导入的题库文件（.xlsx 或 .csv）")
        data = upload.read(importer.MAX_BYTES + 1)
        filename = PurePath(upload.filename.replace("\\", "/")).name[:100]
        async with svc.db.write() as db:
            item = await banks.get(session=db, bank_id=bank_id)
            report = await banks.import_file(
                session=db, now=svc.now(), actor=actor(), bank=item, data=data, filename=filename
            )
    except AppError as error:
        if error.status == 404:
            raise
        return await _bank_page(bank_id, import_error=error.message), 400
    return await _bank_page(bank_id, report=report)


async def _question_page(question_id: int, errors=None, form=None):
    svc = services()
    async with svc.db.read() as db:
        question = await banks.get_question(session=db, question_id=question_id)
        bank = await banks.get(session=db, bank_id=question.bank_id)
        used = await banks.times_used(session=db, question_id=question_id)
        stat = (await statistics.question_stats(session=db, question_ids={question_id})).get(
            question_id, statistics.QuestionStat()
        )
    options = json.loads(question.options)
    return await render(
        "admin/question.html",
        question=question,
        bank=bank,
        used=used,
        stat=stat,
        options=list(zip(papers.LETTERS, options, strict=False)),
        letters=papers.LETTERS[: importer.MAX_OPTIONS],
        values=form if form is not None else banks.form_values(question),
        errors=errors or {},
        type_labels=banks.TYPE_LABELS,
        done=DONE.get(request.args.get("done", "")),
    )


@bp.get("/questions/<int:question_id>")
@admin_page
async def question(question_id: int):
    """A question as the learner sees it, its statistics, and the edit form."""
    return await _question_page(question_id)


@bp.post("/questions/<int:question_id>")
@admin_page
@with_form_errors(lambda question_id, errors, form: _question_page(question_id, errors, form))
async def question_update(question_id: int):
    """Save a question, checked with the import rules."""
    svc = services()
    form = await request.form
    values = {k: v for k, v in form.items() if k != "csrf_token"}
    async with svc.db.write() as db:
        item = await banks.get_question(session=db, question_id=question_id)
        changes = await banks.update_question(
            session=db, now=svc.now(), actor=actor(), question=item, values=values
        )
    return redirect(
        url_for("admin.question", question_id=question_id, done="saved" if changes else "unchanged")
    )


@bp.post("/questions/<int:question_id>/active")
@admin_page
async def question_active(question_id: int):
    """Activate or deactivate a question."""
    svc = services()
    active = (await request.form).get("active") == "1"
    async with svc.db.write() as db:
        item = await banks.get_question(session=db, question_id=question_id)
        await banks.set_active(
            session=db, now=svc.now(), actor=actor(), question=item, active=active
        )
    return redirect(
        url_for(
            "admin.question",
            question_id=question_id,
            done="activated" if active else "deactivated",
        )
    )


@bp.post("/questions/<int:question_id>/delete")
@admin_page
async def question_delete(question_id: int):
    """Delete a question no paper used."""
    svc = services()
    try:
        async with svc.db.write() as db:
            item = await banks.get_question(session=db, question_id=question_id)
            await banks.delete_question(session=db, now=svc.now(), actor=actor(), question=item)
    except AppError as error:
        if error.status == 404:
            raise
        return await _question_page(question_id, errors={"delete": error.message}), 400
    return redirect(url_for("admin.bank", bank_id=item.bank_id, done="deleted"))
