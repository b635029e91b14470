"""The audit log: every admin action is recorded in the same transaction as the action."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.accounts.models import User
from app.audit.models import AuditEntry
from app.clock import shanghai_text
from app.lib.paging import Page

# Action code -> Chinese label. Each area declares its own in its ``audit_actions`` module,
# which ``app.load_areas`` (run by every process: web, worker, CLI) hands to ``declare``.
ACTION_LABELS: dict[str, str] = {}


def declare(actions: Mapping[str, str]) -> None:
    """Make an area's actions known with their labels; a code is declared once, whatever
    how often a process loads its areas."""
    for code, text in actions.items():
        if ACTION_LABELS.get(code, text) != text:
            raise ValueError(f"audit action {code!r} declared twice with different labels")
        ACTION_LABELS[code] = text


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who performs an admin action, and from where (for the audit log)."""

    id: int | None
    ip: str = ""


def label(action: str) -> str:
    """The Chinese label of an action code (the code itself for one no longer declared)."""
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
    changes: dict[str, tuple[object, object]] | None = None,
) -> AuditEntry:
    """Add an entry to the audit log; it commits or rolls back with the caller's action.

    ``changes`` maps a field's Chinese label to its (before, after) values. An action no
    area declared is a programming error, refused before anything is written."""
    if action not in ACTION_LABELS:
        raise ValueError(f"undeclared audit action {action!r}: add it to an audit_actions module")
    entry = AuditEntry(
        at=now,
        actor_id=actor_id,
        action=action[:50],
        target_user_id=target_user_id,
        detail=detail,
        ip=(ip or "")[:64],
        changes=json.dumps(
            {k: [_plain(b), _plain(a)] for k, (b, a) in changes.items()}, ensure_ascii=False
        )
        if changes
        else None,
    )
    # No flush of its own: the entry goes out with the action's next flush or commit.
    session.add(entry)
    return entry


def _plain(value: object) -> object:
    if isinstance(value, dt.datetime):
        return shanghai_text(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def diff(before: dict[str, object], after: dict[str, object], labels: dict[str, str]):
    """The (before, after) pairs of the fields that changed, keyed by their labels."""
    return {
        labels.get(name, name): (before.get(name), after.get(name))
        for name in after
        if before.get(name) != after.get(name)
    }


@dataclasses.dataclass
class EntryView:
    """One audit entry with the names of the people involved, for display."""

    entry: AuditEntry
    actor_name: str | None
    target_name: str | None

    @property
    def label(self) -> str:
        return label(self.entry.action)

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """What an edit changed: (field, before, after)."""
        if not self.entry.changes:
            return []
        return [(k, b, a) for k, (b, a) in json.loads(self.entry.changes).items()]


@dataclasses.dataclass
class Search:
    """The audit log's search: who acted, on whom, what, and when (Shanghai dates)."""

    actor: str = ""
    target: str = ""
    action: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def conditions(self, actor, target) -> list:
        found = []
        if self.action:
            found.append(AuditEntry.action == self.action)
        for text, person in ((self.actor, actor), (self.target, target)):
            if text:
                # ID numbers are encrypted: a whole one is found by its blind index.
                found.append(
                    person.name.contains(text, autoescape=True) | (person.id_number == text)
                )
        if self.since is not None:
            found.append(AuditEntry.at >= self.since)
        if self.until is not None:
            found.append(AuditEntry.at < self.until)
        return found


async def search(
    *, session: AsyncSession, query: Search, page: int = 1, per_page: int = 30
) -> Page[EntryView]:
    """Audit entries matching a search, newest first."""
    actor, target = aliased(User), aliased(User)
    conditions = query.conditions(actor, target)
    base = (
        select(AuditEntry.id)
        .outerjoin(actor, actor.id == AuditEntry.actor_id)
        .outerjoin(target, target.id == AuditEntry.target_user_id)
        .where(*conditions)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
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
    page_.items = [EntryView(e, a, t) for e, a, t in rows]
    return page_


async def stream(*, session: AsyncSession, query: Search, chunk: int = 2000):
    """Every entry matching a search, newest first, in chunks (for the Excel export)."""
    actor, target = aliased(User), aliased(User)
    result = await session.stream(
        select(AuditEntry, actor.name, actor.id_number, target.name, target.id_number)
        .outerjoin(actor, actor.id == AuditEntry.actor_id)
        .outerjoin(target, target.id == AuditEntry.target_user_id)
        .where(*query.conditions(actor, target))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .execution_options(yield_per=chunk)
    )
    async for rows in result.partitions(chunk):
        yield rows


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
