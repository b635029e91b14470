"""The dated notices of a registration: 90 and 30 days before expiry, the renewal window
opening, and expiry (``rules.notice_days``). Each is posted when it falls due: when the
applicant's pages are read (``due_for``) and by the worker every minute (``due_all``).
Every notice carries a key, so two workers, a page and a worker, or a rerun never post one
twice; each registration keeps the day its next notice falls due (``next_notice_on``,
indexed), so the worker's minute finds nothing to read until a day comes round."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.clock import local_date
from app.registration import notices, registry, rules
from app.registration.models import Application, Kind, Registration, RuleSet, Status


@dataclasses.dataclass(frozen=True)
class Due:
    """What falls due for one registration on a day: a notice (unless ``kind`` is empty)
    and the day the next one will."""

    registration_id: int
    user_id: int
    next_on: dt.date | None
    kind: str = ""
    title: str = ""
    body: str = ""
    key: str = ""


def due_notice(registration: Registration, rule_set: RuleSet, today: dt.date) -> Due:
    """The notice a registration is due on a day: the latest of its stages reached (an
    applicant who looks after weeks away gets the one that matters now, not each missed)."""
    until = registration.valid_until
    next_on = rules.next_notice_day(rule_set, until, today)
    reached = [kind for day, kind in rules.notice_days(rule_set, until) if day <= today]
    if not reached:
        return Due(registration.id, registration.user_id, next_on)
    kind = reached[-1]
    number = registration.number
    window = rules.renewal_window(rule_set, until)
    days = (until - today).days
    if kind == "expired":
        title = f"注册已于{rules.day_text(until)}期满"
        body = (
            f"您的注册（编号 {number}）已于{rules.day_text(until)}期满失效。"
            "如需继续执业，请申请重新注册。"
        )
    elif kind == "renewal_open":
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
    key = f"reg{registration.id}:{until.isoformat()}:{kind}"
    return Due(registration.id, registration.user_id, next_on, kind, title, body, key)


async def _renewal_pending(session: AsyncSession, user_ids: list[int]) -> set[int]:
    """Of these people, those with a renewal submitted and not yet decided (no reminder
    while it is under review)."""
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
    if latest is None or latest.cancelled:
        return None
    if user_id in await _renewal_pending(session, [user_id]):
        return None
    rule_set = await session.get(RuleSet, latest.rule_set_id)
    due = due_notice(latest, rule_set, local_date(now))
    if not due.kind or await notices.posted_keys(session=session, keys=[due.key]):
        return None
    return due


async def due_all(*, session: AsyncSession, now: dt.datetime) -> list[Due]:
    """What has fallen due for every registration whose next notice day has come (with
    what is already posted, so that its next day moves on), for the worker."""
    today = local_date(now)
    newer = aliased(Registration)
    rows = (
        await session.execute(
            select(Registration, RuleSet)
            .join(RuleSet, RuleSet.id == Registration.rule_set_id)
            .where(
                Registration.next_notice_on <= today,
                Registration.cancelled.is_(False),
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
    # Under review, a registration waits (its day stays: looked at again next minute).
    return [
        due_notice(registration, rule_set, today)
        for registration, rule_set in rows
        if registration.user_id not in pending
    ]


async def post(*, session: AsyncSession, now: dt.datetime, dues: list[Due]) -> int:
    """Post these notices (each once, whoever else posts it meanwhile) and move each
    registration's next notice day on; how many notices were new."""
    posted = 0
    moved: dict[dt.date | None, list[int]] = defaultdict(list)
    for due in dues:
        if due.kind and await notices.post(
            session=session,
            now=now,
            user_id=due.user_id,
            kind=due.kind,
            title=due.title,
            body=due.body,
            key=due.key,
        ):
            posted += 1
        moved[due.next_on].append(due.registration_id)
    # One statement per next day (a run after an outage moves thousands on at once).
    for next_on, ids in moved.items():
        for start in range(0, len(ids), 500):
            await session.execute(
                update(Registration)
                .where(Registration.id.in_(ids[start : start + 500]))
                .values(next_notice_on=next_on)
                .execution_options(synchronize_session=False)
            )
    return posted
