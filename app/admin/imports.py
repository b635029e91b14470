"""Learner import from Excel: ID number, name, gender, work unit and batch per row.

``prepare`` reads and checks the whole file without writing: its format, header (found
by column names, in any order) and size, then every row against the rest of the file and
the database, looked up in bulk. ``write`` then stores the valid rows in short
transactions with one savepoint per row, so each row is imported completely or not at
all. Refused rows are reported with their row number (as Excel shows it) and a Chinese
reason. Importing the same file twice is harmless: rows already enrolled are counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import json
import re
import secrets
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import idcard
from app.accounts import service as accounts
from app.accounts.models import Role, User, UserRole
from app.audit import service as audit
from app.config import Config
from app.errors import AppError
from app.learning.models import Batch, Enrolment

FIELDS = ("id_number", "name", "gender", "work_unit", "batch")
HEADERS = {
    "id_number": "身份证号",
    "name": "姓名",
    "gender": "性别",
    "work_unit": "工作单位",
    "batch": "批次",
}
# Header spellings seen in real spreadsheets, after removing spaces, "*" and (notes).
ALIASES = {
    "id_number": {"身份证号", "身份证号码", "身份证", "证件号码"},
    "name": {"姓名"},
    "gender": {"性别"},
    "work_unit": {"工作单位", "单位", "单位名称"},
    "batch": {"批次", "批次名称", "培训批次"},
}
MAX_BYTES = 10 * 1024 * 1024
MAX_UNZIPPED_BYTES = 300 * 1024 * 1024
MAX_ROWS = 20_000
HEADER_SEARCH_ROWS = 10
LOOKUP_CHUNK = 500
# A write transaction is committed this often so that a long import never holds the
# SQLite write lock long enough to make other writers wait.
CHUNK_SECONDS = 0.5
CHUNK_ROWS = 500
BAD_FILE = "无法读取该文件：请上传 Excel 2007 及以上版本的 .xlsx 文件（.xls 文件请先在 Excel 中“另存为” .xlsx）"
NUMERIC_ID = "身份证号被 Excel 保存成了数字，后几位已丢失；请把该列设为“文本”格式后重新录入"


@dataclasses.dataclass
class SheetRow:
    """One data row as read from the file: its Excel row number and its cells as text."""

    row: int
    values: dict[str, str]
    numeric_id: bool = False


@dataclasses.dataclass
class RowError:
    row: int
    reason: str
    values: dict[str, str]


@dataclasses.dataclass
class PlannedRow:
    """A valid row, ready to be written."""

    row: int
    id_number: str
    name: str
    gender: str
    work_unit: str
    batch_id: int
    batch_name: str
    user_id: int | None  # None: a new account is created
    needs_learner_role: bool = False


@dataclasses.dataclass
class ImportReport:
    """What an import did: counts and the rows that were refused, with reasons."""

    file_name: str = ""
    rows: int = 0
    created: int = 0
    enrolled: int = 0
    already_enrolled: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        """One line for the CLI and the audit log."""
        name = f"《{self.file_name}》" if self.file_name else ""
        return (
            f"导入文件{name}：共 {self.rows} 行，新建账号 {self.created} 个，"
            f"报名 {self.enrolled} 人次，已报名 {self.already_enrolled} 行，"
            f"错误 {len(self.errors)} 行"
        )

    def error_lines(self) -> list[str]:
        """One line per refused row, for the CLI."""
        return [
            f"第{e.row}行 {e.values.get('id_number') or '（无身份证号）'} "
            f"{e.values.get('name') or '（无姓名）'}：{e.reason}"
            for e in self.errors
        ]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        fields = dict(data)
        errors = [RowError(**e) for e in fields.pop("errors", [])]
        return cls(**fields, errors=errors)


def _clean(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    text = str(value).replace("\u00a0", " ").replace("\u3000", " ")
    return " ".join(text.split())


def _header_key(value: object) -> str | None:
    text = re.sub(r"[（(][^）)]*[）)]", "", _clean(value)).replace(" ", "").replace("*", "")
    for field, names in ALIASES.items():
        if text in names:
            return field
    return None


def _open(data: bytes):
    if not data:
        raise AppError("import_empty", "上传的文件是空的，请选择学员名单 Excel 文件")
    if len(data) > MAX_BYTES:
        raise AppError(
            "import_too_big",
            f"文件大小为 {len(data) // 1024} KB，超过 {MAX_BYTES // 1024 // 1024} MB 的上限，请拆分后导入",
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise AppError("import_format", BAD_FILE) from None
    if unzipped > MAX_UNZIPPED_BYTES:
        raise AppError("import_too_big", "文件解压后过大，请删除多余的工作表或拆分后导入")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        # openpyxl raises many types (KeyError, ValueError, XML errors) for broken files.
        raise AppError("import_format", BAD_FILE) from None


def read_sheet(data: bytes) -> list[SheetRow]:
    """The data rows of the first worksheet, located by header names in any order."""
    workbook = _open(data)
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers store wrong dimensions; read every row
        rows = sheet.iter_rows(values_only=True)
        columns, first_seen = None, None
        header_row = 0
        for number, cells in enumerate(rows, start=1):
            if number > HEADER_SEARCH_ROWS:
                break
            keys = [_header_key(c) for c in cells]
            if first_seen is None and any(_clean(c) for c in cells):
                first_seen = keys
            if "id_number" in keys:
                columns, header_row = keys, number
                break
        if first_seen is None:
            raise AppError("import_empty", "文件中没有数据：第一个工作表是空的")
        columns = columns or first_seen
        missing = [HEADERS[f] for f in FIELDS if f not in columns]
        if missing:
            raise AppError(
                "import_header",
                f"表头缺少列：{'、'.join(missing)}。表头须包含 "
                f"{'、'.join(HEADERS.values())} 五列（顺序不限）",
            )
        repeated = [HEADERS[f] for f in FIELDS if columns.count(f) > 1]
        if repeated:
            raise AppError("import_header", f"表头中“{'、'.join(repeated)}”列出现了不止一次")
        index = {field: columns.index(field) for field in FIELDS}
        result: list[SheetRow] = []
        for number, cells in enumerate(rows, start=header_row + 1):
            raw = {f: cells[i] if i < len(cells) else None for f, i in index.items()}
            values = {f: _clean(v) for f, v in raw.items()}
            if not any(values.values()):
                continue
            if len(result) >= MAX_ROWS:
                raise AppError(
                    "import_too_many", f"文件超过单次导入上限 {MAX_ROWS} 行，请拆分后分批导入"
                )
            numeric = isinstance(raw["id_number"], float)
            result.append(SheetRow(row=number, values=values, numeric_id=numeric))
    finally:
        workbook.close()
    if not result:
        raise AppError("import_empty", "文件中除表头外没有学员数据")
    return result


def _batch_key(name: str) -> str:
    return " ".join(name.split())


async def plan(
    *, session: AsyncSession, now: dt.datetime, rows: list[SheetRow]
) -> tuple[list[PlannedRow], list[RowError], int]:
    """Validate every row against the file and the database (looked up in bulk).

    Returns the rows to write, the refused rows and how many rows were already enrolled."""
    batches = {
        _batch_key(name): (batch_id, name)
        for batch_id, name in await session.execute(select(Batch.id, Batch.name))
    }
    parsed: dict[int, idcard.IdNumber] = {}
    id_errors: dict[int, str] = {}
    for sheet_row in rows:
        try:
            parsed[sheet_row.row] = idcard.parse(sheet_row.values["id_number"], today=now.date())
        except AppError as error:
            id_errors[sheet_row.row] = error.message
    users = await _existing_users(session, {p.value for p in parsed.values()})
    enrolled = await _existing_enrolments(session, [u[0] for u in users.values()])

    planned: list[PlannedRow] = []
    errors: list[RowError] = []
    already = 0
    first_row_of: dict[str, int] = {}
    for sheet_row in rows:
        values = sheet_row.values
        reasons: list[str] = []
        id_number = parsed.get(sheet_row.row)
        if sheet_row.numeric_id:
            reasons.append(NUMERIC_ID)
        elif not values["id_number"]:
            reasons.append("身份证号为空")
        elif id_number is None:
            reasons.append(id_errors[sheet_row.row])
        elif id_number.value in first_row_of:
            reasons.append(f"身份证号与第{first_row_of[id_number.value]}行重复")
        else:
            first_row_of[id_number.value] = sheet_row.row
        name = values["name"]
        if not name:
            reasons.append("姓名为空")
        elif len(name) > 50:
            reasons.append("姓名不能超过50个字符")
        gender = values["gender"]
        if gender not in ("男", "女"):
            reasons.append(f"性别须为“男”或“女”，表中为“{gender}”" if gender else "性别为空")
        elif id_number is not None and gender != id_number.gender:
            reasons.append(f"性别“{gender}”与身份证号（第17位表示{id_number.gender}性）不符")
        if len(values["work_unit"]) > 200:
            reasons.append("工作单位不能超过200个字符")
        batch = batches.get(_batch_key(values["batch"]))
        if not values["batch"]:
            reasons.append("批次为空")
        elif batch is None:
            reasons.append(f"批次《{values['batch']}》不存在")
        existing = users.get(id_number.value) if id_number else None
        if existing and name and " ".join(existing[1].split()) != name:
            reasons.append(f"该身份证号已有账号，姓名为“{existing[1]}”，与表中姓名不一致")
        if reasons:
            errors.append(RowError(sheet_row.row, "；".join(reasons), values))
            continue
        user_id = existing[0] if existing else None
        if user_id is not None and (user_id, batch[0]) in enrolled:
            already += 1
            continue
        planned.append(
            PlannedRow(
                row=sheet_row.row,
                id_number=id_number.value,
                name=name,
                gender=gender,
                work_unit=values["work_unit"],
                batch_id=batch[0],
                batch_name=batch[1],
                user_id=user_id,
                needs_learner_role=bool(existing) and not existing[2],
            )
        )
    return planned, errors, already


async def _existing_users(
    session: AsyncSession, id_numbers: set[str]
) -> dict[str, tuple[int, str, bool]]:
    """ID number -> (user id, name, has the learner role), in a few bulk queries."""
    found: dict[str, tuple[int, str, bool]] = {}
    ordered = sorted(id_numbers)
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        chunk = ordered[start : start + LOOKUP_CHUNK]
        rows = (
            await session.execute(
                select(User.id, User.id_number, User.name).where(User.id_number.in_(chunk))
            )
        ).all()
        learners = set(
            (
                await session.scalars(
                    select(UserRole.user_id).where(
                        UserRole.user_id.in_([r.id for r in rows]),
                        UserRole.role == Role.LEARNER,
                    )
                )
            ).all()
        )
        for row in rows:
            found[row.id_number] = (row.id, row.name, row.id in learners)
    return found


async def _existing_enrolments(session: AsyncSession, user_ids: list[int]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(user_ids), LOOKUP_CHUNK):
        chunk = user_ids[start : start + LOOKUP_CHUNK]
        rows = await session.execute(
            select(Enrolment.user_id, Enrolment.batch_id).where(Enrolment.user_id.in_(chunk))
        )
        pairs.update((user_id, batch_id) for user_id, batch_id in rows)
    return pairs


async def import_row(
    *,
    session: AsyncSession,
    config: Config,
    now: dt.datetime,
    actor_id: int | None,
    ip: str,
    file_name: str,
    row: PlannedRow,
) -> bool:
    """Create the account if needed and enrol it; True when an account was created."""
    created = row.user_id is None
    if created:
        user = await accounts.create(
            session=session,
            config=config,
            now=now,
            id_number=row.id_number,
            name=row.name,
            gender=row.gender,
            work_unit=row.work_unit,
            roles=(Role.LEARNER,),
        )
        user_id = user.id
    else:
        user_id = row.user_id
        if row.needs_learner_role:
            session.add(UserRole(user_id=user_id, role=Role.LEARNER))
    session.add(Enrolment(user_id=user_id, batch_id=row.batch_id, enrolled_at=now))
    what = "新建账号（初始密码为身份证号后六位）并报名" if created else "报名"
    role_note = "，并增加学员角色" if row.needs_learner_role else ""
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="learner.import_row",
        target_user_id=user_id,
        detail=f"{what}《{row.batch_name}》{role_note}（文件《{file_name}》第{row.row}行）",
        ip=ip,
    )
    return created


@dataclasses.dataclass
class Prepared:
    """A checked file: the rows to write and the report so far."""

    report: ImportReport
    planned: list[PlannedRow]
    sheet_rows: dict[int, SheetRow]
    now: dt.datetime


async def prepare(svc, data: bytes, *, file_name: str) -> Prepared:
    """Read and check a whole file without writing anything; bad files raise AppError."""
    rows = await asyncio.to_thread(read_sheet, data)
    now = svc.now()
    report = ImportReport(file_name=file_name, rows=len(rows))
    async with svc.db.read() as session:
        planned, report.errors, report.already_enrolled = await plan(
            session=session, now=now, rows=rows
        )
    return Prepared(report, planned, {r.row: r for r in rows}, now)


Progress = Callable[[int, int], Awaitable[None]]


async def write(
    svc, prepared: Prepared, *, actor_id: int | None, ip: str = "", progress: Progress | None = None
) -> ImportReport:
    """Write the checked rows, each all-or-nothing, in short transactions; then log the import."""
    report, now = prepared.report, prepared.now

    async def write_row(session: AsyncSession, row: PlannedRow, *, retry: bool = True) -> None:
        try:
            async with session.begin_nested():
                created = await import_row(
                    session=session,
                    config=svc.config,
                    now=now,
                    actor_id=actor_id,
                    ip=ip,
                    file_name=report.file_name,
                    row=row,
                )
        except (AppError, IntegrityError) as error:
            sheet_row = prepared.sheet_rows[row.row]
            if retry:
                # Someone created or enrolled this person after the file was checked:
                # check the row again against what is now in the database.
                again, errors, already = await plan(session=session, now=now, rows=[sheet_row])
                report.errors.extend(errors)
                report.already_enrolled += already
                for planned_row in again:
                    await write_row(session, planned_row, retry=False)
                return
            reason = (
                error.message
                if isinstance(error, AppError)
                else "保存时与其他操作冲突，该行未导入，请重新导入"
            )
            report.errors.append(RowError(row.row, reason, sheet_row.values))
            return
        report.created += created
        report.enrolled += 1

    planned = prepared.planned
    position = 0
    while True:
        async with svc.db.write() as session:
            started = time.monotonic()
            end = min(len(planned), position + CHUNK_ROWS)
            while position < end and time.monotonic() - started < CHUNK_SECONDS:
                await write_row(session, planned[position])
                position += 1
            if position >= len(planned):
                report.errors.sort(key=lambda e: e.row)
                await audit.record(
                    session=session,
                    now=now,
                    actor_id=actor_id,
                    action="learner.import",
                    detail=report.summary(),
                    ip=ip,
                )
                return report
        if progress is not None:
            await progress(position, len(planned))


async def import_learners(
    svc, data: bytes, *, file_name: str, actor_id: int | None, ip: str = ""
) -> ImportReport:
    """Check and import an .xlsx file's learners and enrolments in one go."""
    prepared = await prepare(svc, data, file_name=file_name)
    return await write(svc, prepared, actor_id=actor_id, ip=ip)


async def import_learners_file(
    svc, path: Path, actor_id: int | None = None, ip: str = ""
) -> ImportReport:
    """Import from a file on disk (the CLI's ``import-learners``)."""
    path = Path(path)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise AppError("import_missing", f"找不到文件：{path}") from None
    except OSError as error:
        raise AppError("import_missing", f"无法读取文件 {path}：{error.strerror}") from None
    return await import_learners(svc, data, file_name=path.name, actor_id=actor_id, ip=ip)


# The web page checks a file at once and queues the writing for the worker
# (workers/imports.py); progress and the final report are kept in Redis for a day.
STATUS_TTL = 24 * 3600
# A queued or running import whose progress has not moved for this long was cut off.
STATUS_STALE_SECONDS = 600
INTERRUPTED = (
    "导入被中断（例如服务器重启）。已导入的行不受影响；请重新导入同一文件，已导入的行会自动跳过。"
)
FAILED = "导入过程中发生错误，已导入的行不受影响；请稍后重新导入同一文件，已导入的行会自动跳过。"


def upload_path(config: Config, token: str) -> Path:
    """Where a queued upload waits for the worker."""
    return config.data_dir / "imports" / f"{token}.xlsx"


def _status_key(token: str) -> str:
    return f"admin:import:{token}"


async def save_status(svc, token: str, **status: Any) -> None:
    """Record an import's state (queued, running, done, failed) for its result page."""
    status["updated"] = svc.now().timestamp()
    await svc.redis.set(_status_key(token), json.dumps(status, ensure_ascii=False), ex=STATUS_TTL)


async def load_status(svc, token: str) -> dict[str, Any] | None:
    """An import's state; one that stopped moving is reported as interrupted."""
    raw = await svc.redis.get(_status_key(token)) if len(token) < 64 else None
    if raw is None:
        return None
    status = json.loads(raw)
    stale = svc.now().timestamp() - status["updated"] > STATUS_STALE_SECONDS
    if status["state"] in ("queued", "running") and stale:
        status.update(state="failed", message=INTERRUPTED)
    return status


async def queue(svc, data: bytes, *, file_name: str, actor_id: int | None, ip: str) -> str:
    """Check a file now (bad files raise AppError) and queue its rows for the worker."""
    prepared = await prepare(svc, data, file_name=file_name)
    token = secrets.token_urlsafe(16)
    path = upload_path(svc.config, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, data)
    await save_status(
        svc, token, state="queued", file_name=file_name, done=0, total=len(prepared.planned)
    )
    await svc.enqueue("import_learners", token, file_name, actor_id, ip)
    return token


async def run_queued(svc, token: str, *, file_name: str, actor_id: int | None, ip: str) -> None:
    """The worker's half: write a queued file's rows, reporting progress, then clean up."""
    path = upload_path(svc.config, token)

    async def progress(done: int, total: int) -> None:
        await save_status(svc, token, state="running", file_name=file_name, done=done, total=total)

    try:
        data = await asyncio.to_thread(path.read_bytes)
        prepared = await prepare(svc, data, file_name=file_name)
        report = await write(svc, prepared, actor_id=actor_id, ip=ip, progress=progress)
    except Exception:
        await save_status(svc, token, state="failed", message=FAILED, file_name=file_name)
        raise
    await save_status(svc, token, state="done", report=report.to_dict())
    path.unlink(missing_ok=True)


def _workbook_bytes(workbook: Workbook) -> bytes:
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="E8F1FC")


def error_workbook(report: ImportReport) -> bytes:
    """The refused rows with their reasons, to be corrected and imported again."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "错误行"
    sheet.append(["原行号", *HEADERS.values(), "错误原因"])
    for cell in sheet[1]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    for error in report.errors:
        sheet.append([error.row, *(error.values.get(f, "") for f in FIELDS), error.reason])
        sheet.cell(row=sheet.max_row, column=2).number_format = "@"
    for column, width in zip("ABCDEFG", (8, 22, 10, 6, 30, 36, 60), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    return _workbook_bytes(workbook)


def template_workbook() -> bytes:
    """An empty learner list with the expected header, and a sheet of instructions."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "学员名单"
    sheet.append(list(HEADERS.values()))
    for cell in sheet[1]:
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    # Text format keeps Excel from turning 18-digit ID numbers into rounded numbers.
    for row in range(2, 2001):
        sheet.cell(row=row, column=1).number_format = "@"
    for column, width in zip("ABCDE", (24, 14, 8, 34, 40), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("填写说明")
    for line in TEMPLATE_NOTES:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    return _workbook_bytes(workbook)


TEMPLATE_NOTES = (
    "学员名单填写说明",
    "1. 只导入第一个工作表“学员名单”；第一行为表头：身份证号、姓名、性别、工作单位、批次（列的顺序不限）。",
    "2. 身份证号为18位，末位X大小写均可；请保持该列为“文本”格式，否则 Excel 会把号码变成科学计数法而丢失末几位。",
    "3. 性别填写“男”或“女”，须与身份证号第17位一致（奇数为男，偶数为女）。",
    "4. 批次须与系统中的批次名称完全一致。",
    "5. 新学员的初始密码为身份证号后六位，首次登录须修改；已有账号的学员只增加报名，密码不变。",
    "6. 同一身份证号在一个文件中只能出现一次；已报名该批次的行会跳过并计为“已报名”。",
)
