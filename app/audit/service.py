"""The audit log: every admin action is recorded in the same transaction as the action."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.accounts.models import User
from app.audit.models import AuditEntry
from app.lib.paging import Page

# Action code -> Chinese label. Other areas add their own codes with ACTION_LABELS.update().
ACTION_LABELS: dict[str, str] = {
    "learner.import": "导入学员",
    "learner.import_row": "导入报名",
    "learner.photo_reset": "重置照片",
    "learner.phone_set": "更改手机号",
    "learner.phone_clear": "清除手机号",
    "learner.password_reissue": "重发初始密码",
    "learner.activate": "启用账号",
    "learner.deactivate": "停用账号",
    "learner.roles": "修改角色",
}


def label(action: str) -> str:
    """The Chinese label of an action code (the code itself when unknown)."""
    return ACTION_LABELS.get(action, action)


async def record(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor_id: int | None,
    action: str,
    target_user_id: int | None = None,
    detail: str = "",
    ip: str = "",
) -> AuditEntry:
    """Add an entry to the audit log; it commits or rolls back with the caller's action."""
    entry = AuditEntry(
        at=now,
        actor_id=actor_id,
        action=action[:50],
        target_user_id=target_user_id,
        detail=detail,
        ip=(ip or "")[:64],
    )
    # No flush of its own: the entry goes out with the action's next flush or commit.
    session.add(entry)
    return entry


@dataclasses.dataclass
class EntryView:
    """One audit entry with the names of the people involved, for display."""

    entry: AuditEntry
    actor_name: str | None
    target_name: str | None

    @property
    def label(self) -> str:
        return label(self.entry.action)


async def get_all(
    *,
    session: AsyncSession,
    action: str | None = None,
    target_user_id: int | None = None,
    page: int = 1,
    per_page: int = 30,
) -> Page[EntryView]:
    """Audit entries, newest first, optionally for one action or one target user."""
    actor, target = aliased(User), aliased(User)
    conditions = []
    if action:
        conditions.append(AuditEntry.action == action)
    if target_user_id is not None:
        conditions.append(AuditEntry.target_user_id == target_user_id)
    total = await session.scalar(select(func.count(AuditEntry.id)).where(*conditions))
    page_ = Page.of(page, per_page, total or 0)
    rows = await session.execute(
        select(AuditEntry, actor.name, target.name)
        .outerjoin(actor, actor.id == AuditEntry.actor_id)
        .outerjoin(target, target.id == AuditEntry.target_user_id)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .offset(page_.offset)
        .limit(per_page)
    )
    page_.items = [
        EntryView(entry, actor_name, target_name) for entry, actor_name, target_name in rows
    ]
    return page_


async def filter_actions(*, session: AsyncSession) -> list[str]:
    """Every known action code, then any other code found in the log, for the filter."""
    codes = set((await session.scalars(select(AuditEntry.action).distinct())).all())
    return list(ACTION_LABELS) + sorted(codes - set(ACTION_LABELS))
