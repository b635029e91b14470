"""Excel exports of the reports, written by the worker (job ``export_report``).

The page queues an export and shows its progress; the worker reads the data, streams the
workbook to ``<data dir>/exports/<token>.xlsx`` and records where it is. Status lives in
Redis for a day; the files are removed by the ``clean_uploads`` sweep after that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import secrets
import time
from pathlib import Path
from typing import Any

from app.admin.reports import progress, results
from app.audit import service as audit
from app.certificates.render import hours_text
from app.clock import shanghai_text
from app.errors import AppError, NotFound
from app.exams.paper import LETTERS
from app.learning.models import Batch
from app.lib.workbook import Sheet, write_xlsx

STATUS_TTL = 24 * 3600
FILE_TTL = 24 * 3600
STALE_SECONDS = 900
KINDS = {
    "progress": "学习进度",
    "results": "考试成绩",
    "difficulty": "试题难度",
    "roster": "合格人员名册",
    "audit": "操作日志",
}
INTERRUPTED = "导出被中断（例如服务器重启），请重新导出"


def export_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "exports"


def file_path(data_dir: Path, token: str) -> Path:
    if not token.replace("-", "").replace("_", "").isalnum() or len(token) > 40:
        raise NotFound("导出文件不存在或已过期")
    return export_dir(data_dir) / f"{token}.xlsx"


def _key(token: str) -> str:
    return f"admin:export:{token}"


async def save_status(svc, token: str, **status: Any) -> None:
    status["updated"] = time.time()
    await svc.redis.set(_key(token), json.dumps(status, ensure_ascii=False), ex=STATUS_TTL)


async def load_status(svc, token: str) -> dict[str, Any]:
    """An export's state; one that stopped moving is reported as interrupted."""
    raw = await svc.redis.get(_key(token)) if len(token) <= 40 else None
    if raw is None:
        raise NotFound("导出记录不存在或已过期（保留 24 小时），请重新导出")
    status = json.loads(raw)
    if status["state"] in ("queued", "running") and time.time() - status["updated"] > STALE_SECONDS:
        status.update(state="failed", message=INTERRUPTED)
    return status


async def queue(svc, *, kind: str, params: dict, title: str, actor: audit.Actor) -> str:
    """Queue an export for the worker; returns its token."""
    if kind not in KINDS:
        raise AppError("bad_export", "不支持的导出类型")
    token = secrets.token_urlsafe(16)
    await save_status(
        svc,
        token,
        state="queued",
        kind=kind,
        params=params,
        title=title,
        done=0,
        total=0,
        actor_id=actor.id,
        ip=actor.ip,
    )
    await svc.enqueue("export_report", token)
    return token


@dataclasses.dataclass
class Workbook:
    filename: str
    sheets: list[Sheet]
    rows: int


def _text(value) -> str:
    return shanghai_text(value, "%Y-%m-%d") if value else ""


async def _batch(db, params) -> Batch:
    batch = await db.get(Batch, params.get("batch_id"))
    if batch is None:
        raise NotFound("培训批次不存在")
    return batch


async def build(svc, kind: str, params: dict) -> Workbook:
    """Read what an export contains (rows as plain lists) in one read unit of work."""
    unit = params.get("unit") or ""
    async with svc.db.read() as db:
        if kind == "audit":
            return await _audit_book(db, params)
        batch = await _batch(db, params)
        suffix = f"-{unit}" if unit else ""
        if kind == "progress":
            rows, courses = await progress.learner_progress(session=db, batch=batch, work_unit=unit)
            required = sum(c.required for c in courses)
            names: dict[int, list[str]] = {}
            ids = [r.user_id for r in rows if r.required_done < required]
            for start in range(0, len(ids), 1000):
                names.update(
                    await progress.incomplete_required(
                        session=db, batch=batch, user_ids=ids[start : start + 1000]
                    )
                )
            data = [
                [
                    r.name,
                    r.id_number,
                    r.work_unit,
                    r.credited,
                    batch.required_minutes,
                    r.public,
                    batch.required_public_minutes,
                    r.days,
                    batch.min_study_days,
                    "、".join(names.get(r.user_id, [])),
                    "；".join(r.short(batch, required)) or "已达标",
                ]
                for r in rows
            ]
            header = [
                "姓名",
                "身份证号",
                "工作单位",
                "已计入总时长（分钟）",
                "应学总时长",
                "公共课已计入（分钟）",
                "公共课应学",
                "学习天数",
                "最少学习天数",
                "未完成必修课",
                "差距",
            ]
            sheet = Sheet("学习进度", header, data, (10, 22, 30, 12, 10, 12, 10, 9, 10, 30, 40))
            return Workbook(f"{batch.name}-学习进度{suffix}.xlsx", [sheet], len(data))
        if kind == "results":
            return await _results_book(db, batch, unit, suffix)
        if kind == "difficulty":
            return await _difficulty_book(db, batch)
        data = []
        async for part in results.roster(session=db, batch=batch):
            data.extend(
                [
                    r.name,
                    r.id_number,
                    r.gender,
                    r.work_unit,
                    hours_text(r.minutes),
                    results.score_text(r.score),
                    r.number,
                    _text(r.issued_at),
                ]
                for r in part
            )
        header = [
            "姓名",
            "身份证号",
            "性别",
            "工作单位",
            "学时",
            "考试成绩",
            "证书编号",
            "发证日期",
        ]
        sheet = Sheet("合格人员名册", header, data, (10, 22, 6, 34, 8, 10, 18, 12))
        return Workbook(f"{batch.name}-合格人员名册.xlsx", [sheet], len(data))


async def _results_book(db, batch: Batch, unit: str, suffix: str) -> Workbook:
    """考试成绩: one row per learner (best counted score), then every paper (考试明细), each
    voided paper shown as 已作废 and counted in no score. Numbers are number cells."""
    per_learner = await results.learner_results(session=db, batch=batch, work_unit=unit)
    papers = await results.attempt_rows(session=db, batch=batch, work_unit=unit)
    header = ["姓名", "身份证号", "工作单位", "考试次数", "作废次数", "最高成绩", "是否合格"]
    details = [
        "姓名",
        "身份证号",
        "工作单位",
        "第几次",
        "考场",
        "开始时间",
        "结束时间",
        "结束方式",
        "成绩",
        "结果",
        "作废或强制交卷原因",
    ]
    return Workbook(
        f"{batch.name}-考试成绩{suffix}.xlsx",
        [
            Sheet("考试成绩", header, per_learner, (10, 22, 30, 10, 10, 10, 10), text_columns=(1,)),
            Sheet(
                "考试明细",
                details,
                papers,
                (10, 22, 30, 8, 20, 20, 20, 20, 8, 8, 30),
                text_columns=(1,),
            ),
        ],
        len(per_learner) + len(papers),
    )


async def _difficulty_book(db, batch: Batch) -> Workbook:
    """试题难度: per question its statistics and how many papers chose each option."""
    found = await results.difficulty(session=db, batch=batch)
    letters = max((d.option_count for d in found if d.type != "judge"), default=4)
    choice_columns = [f"选{letter}" for letter in LETTERS[:letters]]
    header = [
        "试题编号",
        "题型",
        "题干",
        "章节",
        "使用次数",
        "答对次数",
        "难度系数（答对率 %）",
        "区分度",
        "需复查",
        "正确答案",
        *choice_columns,
        "选对",
        "选错",
        "未作答",
    ]
    data = []
    for d in found:
        counts = {label: n for label, n, _ in d.options}
        choices = [counts.get(letter) for letter in LETTERS[:letters]]
        judged = [counts.get("对"), counts.get("错")]
        discrimination = d.discrimination
        data.append(
            [
                d.question_id,
                d.type_label,
                d.stem,
                d.chapter,
                d.used,
                d.correct,
                round(d.facility * 100, 1),
                round(discrimination, 2) if discrimination is not None else None,
                "是" if d.needs_review else "",
                d.answer_text,
                *choices,
                *judged,
                d.stat.unanswered,
            ]
        )
    widths = (10, 8, 70, 16, 10, 10, 12, 8, 8, 10, *([6] * (letters + 3)))
    sheet = Sheet("试题难度", header, data, widths)
    return Workbook(f"{batch.name}-试题难度.xlsx", [sheet], len(data))


async def _audit_book(db, params) -> Workbook:
    query = audit.Search(
        actor=params.get("actor", ""),
        target=params.get("target", ""),
        action=params.get("action", ""),
        since=_instant(params.get("since")),
        until=_instant(params.get("until")),
    )
    data = []
    async for part in audit.stream(session=db, query=query):
        for entry, actor_name, actor_id, target_name, target_id in part:
            changes = ""
            if entry.changes:
                changes = "；".join(
                    f"{k}：{b if b is not None else '—'} → {a if a is not None else '—'}"
                    for k, (b, a) in json.loads(entry.changes).items()
                )
            data.append(
                [
                    shanghai_text(entry.at, "%Y-%m-%d %H:%M:%S"),
                    audit.label(entry.action),
                    actor_name or "系统",
                    actor_id or "",
                    target_name or "",
                    target_id or "",
                    entry.detail,
                    changes,
                    entry.ip,
                ]
            )
    header = [
        "时间",
        "操作",
        "操作人",
        "操作人身份证号",
        "对象",
        "对象身份证号",
        "内容",
        "修改前后",
        "IP",
    ]
    sheet = Sheet("操作日志", header, data, (20, 14, 10, 22, 10, 22, 50, 50, 16))
    return Workbook("操作日志.xlsx", [sheet], len(data))


def _instant(value):
    return dt.datetime.fromisoformat(value) if value else None


async def run(svc, token: str) -> None:
    """The worker's half: build the workbook, reporting progress, and record the file."""
    status = await load_status(svc, token)
    base = {k: status[k] for k in ("kind", "params", "title", "actor_id", "ip")}
    try:
        await save_status(svc, token, state="running", phase="reading", done=0, total=0, **base)
        book = await build(svc, status["kind"], status["params"])
        loop = asyncio.get_running_loop()

        def tick(rows: int) -> None:
            asyncio.run_coroutine_threadsafe(
                save_status(
                    svc, token, state="running", phase="writing", done=rows, total=book.rows, **base
                ),
                loop,
            )

        dest = file_path(svc.config.data_dir, token)
        await asyncio.to_thread(write_xlsx, dest, book.sheets, progress=tick)
        async with svc.db.write() as db:
            await audit.record(
                session=db,
                now=svc.now(),
                actor_id=status["actor_id"],
                action="report.export",
                detail=f"导出《{book.filename}》（{book.rows} 行）",
                ip=status["ip"],
            )
    except AppError as error:
        await save_status(svc, token, state="failed", message=error.message, **base)
        return
    except Exception:
        await save_status(svc, token, state="failed", message="导出时发生错误，请稍后重试", **base)
        raise
    await save_status(
        svc, token, state="done", done=book.rows, total=book.rows, filename=book.filename, **base
    )


def sweep(data_dir: Path, *, now: float | None = None) -> int:
    """Remove exported files older than a day; returns how many."""
    folder = export_dir(data_dir)
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for path in folder.iterdir():
        if now - path.stat().st_mtime > FILE_TTL:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
