"""Checking a learner list against itself and the database (looked up in bulk), without
writing: which rows to write, which are refused and why, which are already enrolled."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import idcard
from app.accounts.models import Role, User, UserRole
from app.admin.imports.reading import SheetRow
from app.admin.imports.report import ImportReport, RowError
from app.errors import AppError
from app.learning.models import Batch, Enrolment

LOOKUP_CHUNK = 500
NUMERIC_ID = "身份证号被 Excel 保存成了数字，后几位已丢失；请把该列设为“文本”格式后重新录入"


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
class Prepared:
    """A checked file: the rows to write, the report so far and how far writing has got."""

    report: ImportReport
    planned: list[PlannedRow]
    sheet_rows: dict[int, SheetRow]
    now: dt.datetime
    position: int = 0  # planned rows written so far


async def check(
    *, session: AsyncSession, now: dt.datetime, rows: list[SheetRow], file_name: str
) -> Prepared:
    """Check a file's rows (read with ``read_sheet``) without writing anything."""
    report = ImportReport(file_name=file_name, rows=len(rows))
    planned, report.errors, report.already_enrolled = await plan(
        session=session, now=now, rows=rows
    )
    return Prepared(report, planned, {r.row: r for r in rows}, now)


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
