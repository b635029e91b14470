"""Writing a checked learner list, one chunk of rows per write transaction (the caller
opens each), every row all-or-nothing in its own savepoint, then the import's audit entry."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import Role, UserRole
from app.admin.imports.planning import PlannedRow, Prepared, plan
from app.admin.imports.report import RowError
from app.audit import service as audit
from app.config import Config
from app.errors import AppError
from app.learning.models import Enrolment

# A chunk's transaction is committed this often so that a long import never holds the
# SQLite write lock long enough to make other writers wait.
CHUNK_SECONDS = 0.5
CHUNK_ROWS = 500
CONFLICT = "保存时与其他操作冲突，该行未导入，请重新导入"


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


async def write_chunk(
    *,
    session: AsyncSession,
    config: Config,
    prepared: Prepared,
    actor_id: int | None,
    ip: str = "",
) -> bool:
    """Write the next rows of a checked file into ``session`` (for at most CHUNK_SECONDS
    or CHUNK_ROWS rows); True once every row is written and the import is logged."""
    started = time.monotonic()
    end = min(len(prepared.planned), prepared.position + CHUNK_ROWS)
    while prepared.position < end and time.monotonic() - started < CHUNK_SECONDS:
        row = prepared.planned[prepared.position]
        await _write_row(session, config, prepared, row, actor_id=actor_id, ip=ip)
        prepared.position += 1
    if prepared.position < len(prepared.planned):
        return False
    report = prepared.report
    report.errors.sort(key=lambda e: e.row)
    await audit.record(
        session=session,
        now=prepared.now,
        actor_id=actor_id,
        action="learner.import",
        detail=report.summary(),
        ip=ip,
    )
    return True


async def _write_row(
    session: AsyncSession,
    config: Config,
    prepared: Prepared,
    row: PlannedRow,
    *,
    actor_id: int | None,
    ip: str,
    retry: bool = True,
) -> None:
    report = prepared.report
    try:
        async with session.begin_nested():
            created = await import_row(
                session=session,
                config=config,
                now=prepared.now,
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
            again, errors, already = await plan(session=session, now=prepared.now, rows=[sheet_row])
            report.errors.extend(errors)
            report.already_enrolled += already
            for planned_row in again:
                await _write_row(
                    session, config, prepared, planned_row, actor_id=actor_id, ip=ip, retry=False
                )
            return
        reason = error.message if isinstance(error, AppError) else CONFLICT
        report.errors.append(RowError(row.row, reason, sheet_row.values))
        return
    report.created += created
    report.enrolled += 1
