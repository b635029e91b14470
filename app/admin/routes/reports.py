"""统计报表 and the audit log's search and export: pages, chart data, queued exports."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

from quart import redirect, request, url_for

from app.admin.reports import exports, progress, results
from app.admin.routes.common import XLSX, actor, admin_page, bp, int_arg, render
from app.audit import service as audit
from app.clock import SHANGHAI
from app.errors import AppError, NotFound
from app.exams import statistics
from app.learning import batches
from app.learning.files import stream_file
from app.lib.paging import Page
from app.services import services

PER_PAGE = 20
TABS = {"progress": "学习进度", "results": "考试成绩", "difficulty": "试题难度"}


def _chart(kind: str, title: str, pairs, **extra) -> str:
    """A chart's data for static/js/admin-charts.js (kept in a data- attribute)."""
    return json.dumps(
        {
            "type": kind,
            "title": title,
            "labels": [p[0] for p in pairs],
            "values": [p[1] for p in pairs],
            **extra,
        },
        ensure_ascii=False,
    )


@bp.get("/reports", endpoint="reports")
@admin_page
async def reports_page():
    """A batch's report: progress (who is short of what), exam results, question difficulty."""
    svc = services()
    tab = request.args.get("tab", "progress")
    tab = tab if tab in TABS else "progress"
    unit = request.args.get("unit", "").strip()[:200]
    only_short = request.args.get("all") != "1"
    async with svc.db.read() as db:
        batch_rows = await batches.get_all(session=db)
        if not batch_rows:
            return await render("admin/reports.html", batch=None, batch_rows=[], tabs=TABS, tab=tab)
        wanted = int_arg("batch")
        row = next((r for r in batch_rows if r.batch.id == wanted), batch_rows[0])
        batch = row.batch
        units = await results.work_units(session=db, batch_id=batch.id)
        context = {}
        if tab == "progress":
            snap = await progress.snapshot(
                session=db,
                redis=svc.redis,
                batch=batch,
                now=svc.now().timestamp(),
                refresh=request.args.get("refresh") == "1",
            )
            required = snap.required
            number = int_arg("page", 1)
            if unit or not only_short:
                rows = (
                    list(snap.rows.values())
                    if snap.rows is not None
                    else await progress.all_rows(svc.redis, batch.id)
                )
                if unit:
                    rows = [r for r in rows if r.work_unit == unit]
                summary = progress.summarise(rows, batch, required) if unit else snap.summary
                listed = [r for r in rows if r.short(batch, required)] if only_short else rows
                page = Page.of(number, PER_PAGE, len(listed))
                page.items = listed[page.offset : page.offset + PER_PAGE]
            else:
                summary = snap.summary
                page = Page.of(number, PER_PAGE, len(snap.short))
                page.items = await progress.rows_of(
                    svc.redis, batch.id, snap.short[page.offset : page.offset + PER_PAGE]
                )
            names = await progress.incomplete_required(
                session=db, batch=batch, user_ids=[r.user_id for r in page.items]
            )
            context = dict(
                summary=summary,
                page=page,
                names=names,
                required=required,
                taken_at=dt.datetime.fromtimestamp(snap.taken_at, dt.UTC),
                short=lambda r: r.short(batch, required),
                charts=[
                    _chart("bar", "已计入学时占要求的比例（人数）", summary.histogram),
                    _chart(
                        "bar",
                        "各项要求达标人数",
                        [
                            ("总时长", summary.met_total),
                            ("公共课", summary.met_public),
                            ("学习天数", summary.met_days),
                            ("必修课", summary.met_required),
                            ("全部达标", summary.met_all),
                        ],
                        max=summary.learners,
                    ),
                ],
            )
        elif tab == "results":
            found = await results.results(session=db, batch=batch, work_unit=unit)
            context = dict(
                results=found,
                charts=[
                    _chart(
                        "pie",
                        "考试结果（人数）",
                        [
                            ("合格", found.passed),
                            ("未合格", found.sat - found.passed),
                            *([("试卷均已作废", found.voided_only)] if found.voided_only else []),
                            ("未参加", max(0, found.enrolled - found.sat - found.voided_only)),
                        ],
                    ),
                    _chart("bar", "最高成绩分布（占总分比例）", found.scores),
                    _chart("bar", "使用的考试次数（人数）", found.attempts_used),
                ],
            )
        else:
            found = await results.difficulty(session=db, batch=batch)
            hardest = found[:30]
            context = dict(
                questions=found[:200],
                total_questions=len(found),
                review_count=sum(d.needs_review for d in found),
                review_below=statistics.REVIEW_BELOW,
                charts=[
                    _chart(
                        "hbar",
                        "难度系数最低的试题（%）",
                        [
                            (f"第{d.question_id}题", round(d.facility * 100, 1))
                            for d in reversed(hardest)
                        ],
                        max=100,
                    )
                ]
                if hardest
                else [],
            )
    shown = {"batch": batch.id, "tab": tab, **({"unit": unit} if unit else {})}
    if not only_short:
        shown["all"] = "1"
    return await render(
        "admin/reports.html",
        batch=batch,
        batch_rows=batch_rows,
        units=units,
        unit=unit,
        tab=tab,
        tabs=TABS,
        only_short=only_short,
        now=svc.now(),
        page_url=lambda n: url_for("admin.reports", **shown, page=n),
        tab_url=lambda t: url_for(
            "admin.reports", batch=batch.id, tab=t, **({"unit": unit} if unit else {})
        ),
        **context,
    )


@bp.post("/reports/export")
@admin_page
async def report_export():
    """Queue an Excel export of a report for the worker and show its progress."""
    svc = services()
    form = await request.form
    kind = form.get("kind", "")
    if kind not in exports.KINDS or kind == "audit":
        raise AppError("bad_export", "不支持的导出类型")
    try:
        batch_id = int(form.get("batch_id", ""))
    except ValueError:
        raise NotFound("培训批次不存在") from None
    async with svc.db.read() as db:
        batch = await batches.get(session=db, batch_id=batch_id)
    unit = form.get("unit", "").strip()[:200]
    title = f"{batch.name} {exports.KINDS[kind]}" + (f"（{unit}）" if unit else "")
    token = await exports.queue(
        svc, kind=kind, params={"batch_id": batch.id, "unit": unit}, title=title, actor=actor()
    )
    return redirect(url_for("admin.export_status", token=token))


@bp.get("/exports/<token>")
@admin_page
async def export_status(token: str):
    """An export's progress, then its download."""
    status = await exports.load_status(services(), token)
    return await render("admin/export.html", status=status, token=token)


@bp.get("/exports/<token>/download")
@admin_page
async def export_download(token: str):
    """The finished workbook."""
    svc = services()
    status = await exports.load_status(svc, token)
    path = exports.file_path(svc.config.data_dir, token)
    if status["state"] != "done" or not path.is_file():
        raise NotFound("导出文件尚未生成或已过期（保留 24 小时），请重新导出")
    response = await stream_file(path, mimetype=XLSX)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"export.xlsx\"; filename*=UTF-8''{quote(status['filename'])}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# ---------------------------------------------------------------------------- audit log


def _day(name: str, *, end: bool = False) -> dt.datetime | None:
    value = request.args.get(name, "").strip()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    start = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time(), SHANGHAI)
    return start.astimezone(dt.UTC)


def _audit_search() -> tuple[audit.Search, dict]:
    args = {
        k: request.args.get(k, "").strip()[:50]
        for k in ("actor", "target", "action", "since", "until")
    }
    query = audit.Search(
        actor=args["actor"],
        target=args["target"],
        action=args["action"],
        since=_day("since"),
        until=_day("until", end=True),
    )
    return query, {k: v for k, v in args.items() if v}


@bp.get("/audit")
@admin_page
async def audit_log():
    """Every admin action, newest first: search by actor, target, action and date."""
    query, shown = _audit_search()
    async with services().db.read() as db:
        actions = await audit.filter_actions(session=db)
        page = await audit.search(session=db, query=query, page=int_arg("page", 1), per_page=30)
    return await render(
        "admin/audit.html",
        page=page,
        filters=shown,
        action=query.action,
        actions=[(code, audit.label(code)) for code in actions],
        page_url=lambda n: url_for("admin.audit_log", **shown, page=n),
    )


@bp.post("/audit/export")
@admin_page
async def audit_export():
    """Export the audit entries matching the search (worker job)."""
    query, shown = _audit_search()
    params = {
        "actor": query.actor,
        "target": query.target,
        "action": query.action,
        "since": query.since.isoformat() if query.since else "",
        "until": query.until.isoformat() if query.until else "",
    }
    token = await exports.queue(
        services(), kind="audit", params=params, title="操作日志", actor=actor()
    )
    return redirect(url_for("admin.export_status", token=token))
