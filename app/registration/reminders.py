"""The dated notices of a registration: the renewal window opening, 90 and 30 days before
expiry, and expiry. Each is posted when it falls due: when the applicant's pages are read
(``post_due_for``) and by the worker every minute (``post_all_due``); every notice carries
a key, so two workers, a page and a worker, or a rerun never post one twice."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.clock import local_date
from app.registration import notices, registry, rules
from app.registration.models import Application, Kind, Registration, RuleSet, Status

EXPIRY_DAYS = (90, 30)
# An expiry older than this is not looked for by the worker (the applicant's own page still
# posts it): the scan stays within the registrations near their end.
EXPIRED_LOOKBACK_DAYS = 30


@dataclasses.dataclass(frozen=True)
class Due:
    """A dated notice that has fallen due for one registration."""

    user_id: int
    kind: str
    title: str
    body: str
    key: str


def due_notice(
    registration: Registration, rule_set: RuleSet, today: dt.date, *, renewal_pending: bool
) -> Due | None:
    """The notice a registration is due on a day: the latest of its stages reached (an
    applicant who looks after weeks away gets the one that matters now, not each missed)."""
    if registration.cancelled or renewal_pending:
        return None
    until = registration.valid_until
    number = registration.number
    base = f"reg{registration.id}:{until.isoformat()}"
    window = rules.renewal_window(rule_set, until)
    if until < today:
        return Due(
            registration.user_id,
            "expired",
            f"注册已于{rules.day_text(until)}期满",
            f"您的注册（编号 {number}）已于{rules.day_text(until)}期满失效。"
            "如需继续执业，请申请重新注册。",
            f"{base}:expired",
        )
    stages = [(window.opens, 1, "renewal_open")]
    stages += [(until - dt.timedelta(days=d), 0, f"expiry_{d}") for d in EXPIRY_DAYS]
    reached = [s for s in stages if s[0] <= today]
    if not reached:
        return None
    _, _, kind = max(reached)
    days = (until - today).days
    if kind == "renewal_open":
        title = "延续注册已开始受理"
        body = (
            f"您的注册（编号 {number}）将于{rules.day_text(until)}期满，延续注册已开始受理"
            f"（{rules.day_text(window.opens)}至{rules.day_text(until)}）。请在期满前完成每个"
            f"注册周期{rule_set.ce_hours_per_cycle}学时的继续教育并申请延续注册。"
        )
    else:
        title = f"注册将于{days}天后期满"
        body = f"您的注册（编号 {number}）将于{rules.day_text(until)}期满（还有{days}天）。"
        if window.contains(today):
            body += "延续注册已开始受理，尚未收到您的延续注册申请，请尽快申请。"
        else:
            body += (
                f"延续注册自{rules.day_text(window.opens)}起受理，请提前完成每个注册周期"
                f"{rule_set.ce_hours_per_cycle}学时的继续教育。"
            )
    return Due(registration.user_id, kind, title, body, f"{base}:{kind}")


async def _renewal_pending(session: AsyncSession, user_ids: list[int]) -> set[int]:
    """Of these people, those with a renewal submitted and not yet decided."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(Application.open_user_id).where(
            Application.open_user_id.in_(user_ids),
            Application.kind == Kind.RENEWAL,
            Application.status != Status.DRAFT,
        )
    )
    return set(rows)


async def due_for(*, session: AsyncSession, user_id: int, now: dt.datetime) -> Due | None:
    """The dated notice due for a person's registration and not yet posted."""
    latest = await registry.latest_of(session=session, user_id=user_id)
    if latest is None:
        return None
    rule_set = await session.get(RuleSet, latest.rule_set_id)
    pending = user_id in await _renewal_pending(session, [user_id])
    due = due_notice(latest, rule_set, local_date(now), renewal_pending=pending)
    if due is None or await notices.posted_keys(session=session, keys=[due.key]):
        return None
    return due


async def due_all(*, session: AsyncSession, now: dt.datetime) -> list[Due]:
    """Every dated notice due today and not yet posted, for the worker."""
    today = local_date(now)
    longest_window = await session.scalar(select(func.max(RuleSet.renewal_window_months))) or 0
    horizon = today + dt.timedelta(days=max(max(EXPIRY_DAYS), 31 * longest_window) + 1)
    newer = aliased(Registration)
    rows = (
        await session.execute(
            select(Registration, RuleSet)
            .join(RuleSet, RuleSet.id == Registration.rule_set_id)
            .where(
                Registration.cancelled.is_(False),
                Registration.valid_until <= horizon,
                Registration.valid_until >= today - dt.timedelta(days=EXPIRED_LOOKBACK_DAYS),
                # Only a person's latest registration is reminded about.
                ~exists().where(
                    newer.user_id == Registration.user_id,
                    or_(
                        newer.issued_at > Registration.issued_at,
                        and_(newer.issued_at == Registration.issued_at, newer.id > Registration.id),
                    ),
                ),
            )
        )
    ).all()
    pending = await _renewal_pending(session, [r.user_id for r, _ in rows])
    dues = [
        due
        for registration, rule_set in rows
        if (
            due := due_notice(
                registration, rule_set, today, renewal_pending=registration.user_id in pending
            )
        )
    ]
    posted = await notices.posted_keys(session=session, keys=[d.key for d in dues])
    return [d for d in dues if d.key not in posted]


async def post(*, session: AsyncSession, now: dt.datetime, dues: list[Due]) -> int:
    """Post these notices (each once, whoever else posts it meanwhile); how many were new."""
    posted = 0
    for due in dues:
        if await notices.post(
            session=session,
            now=now,
            user_id=due.user_id,
            kind=due.kind,
            title=due.title,
            body=due.body,
            key=due.key,
        ):
            posted += 1
    return posted
