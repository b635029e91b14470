"""公告信息: the applicant's notice board, and the worker's renewal and expiry reminders."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.clock import local_date
from app.registration import registry, rules
from app.registration.events import NoticePosted
from app.registration.models import Application, Notice, Registration, RuleSet, Status


async def post(
    *,
    session: AsyncSession,
    now: dt.datetime,
    user_id: int,
    kind: str,
    title: str,
    body: str = "",
    application_id: int | None = None,
    key: str | None = None,
) -> Notice | None:
    """Put a notice on the board; one with a key already posted is not posted again."""
    notice = Notice(
        user_id=user_id,
        kind=kind,
        title=title[:100],
        body=body,
        application_id=application_id,
        key=key,
        created_at=now,
    )
    if key is None:
        session.add(notice)
        await session.flush()
    else:
        if await session.scalar(select(Notice.id).where(Notice.key == key)):
            return None
        try:
            async with session.begin_nested():
                session.add(notice)
        except IntegrityError:  # another worker posted it a moment ago
            return None
    events.record(session, NoticePosted(notice.id, user_id, title, body))
    return notice


async def of_user(*, session: AsyncSession, user_id: int, limit: int = 20) -> list[Notice]:
    """The newest notices first."""
    return list(
        await session.scalars(
            select(Notice)
            .where(Notice.user_id == user_id)
            .order_by(Notice.created_at.desc(), Notice.id.desc())
            .limit(limit)
        )
    )


async def unread_count(*, session: AsyncSession, user_id: int) -> int:
    return await session.scalar(
        select(func.count(Notice.id)).where(Notice.user_id == user_id, Notice.read_at.is_(None))
    )


async def mark_read(*, session: AsyncSession, user_id: int, now: dt.datetime) -> None:
    await session.execute(
        update(Notice)
        .where(Notice.user_id == user_id, Notice.read_at.is_(None))
        .values(read_at=now)
    )


REMINDER_DAYS = (90, 30)


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


async def send_reminders(*, session: AsyncSession, now: dt.datetime) -> int:
    """Post the renewal-window reminders (90 and 30 days before it opens, and when it opens)
    and the expiry notice of every registration that needs one. Idempotent: each notice has
    a key, so two workers or a rerun post nothing twice."""
    today = local_date(now)
    horizon = today + dt.timedelta(days=max(REMINDER_DAYS) + 400)
    rows = await session.execute(
        select(Registration, RuleSet)
        .join(RuleSet, RuleSet.id == Registration.rule_set_id)
        .where(
            Registration.cancelled.is_(False),
            Registration.valid_until <= horizon,
            Registration.valid_until >= today - dt.timedelta(days=30),
        )
    )
    posted = 0
    for registration, rule_set in rows:
        if not await registry.is_latest(session=session, registration=registration):
            continue
        window = rules.renewal_window(rule_set, registration.valid_until)
        until = registration.valid_until
        base = f"reg{registration.id}:{until.isoformat()}"
        notice = None
        if until < today:
            notice = (
                "expired",
                f"注册已于{_date(until)}期满",
                f"您的注册（编号 {registration.number}）已于{_date(until)}期满失效。"
                "如需继续执业，请申请重新注册。",
            )
        elif window.contains(today):
            if await _renewal_pending(session, registration.user_id):
                continue
            notice = (
                "renewal_open",
                "延续注册已开始受理",
                f"您的注册将于{_date(until)}期满，延续注册已开始受理（截至{_date(until)}），"
                "请在期满前完成继续教育并申请延续注册。",
            )
        else:
            days = (window.opens - today).days
            stage = next((d for d in sorted(REMINDER_DAYS) if days <= d), None)
            if stage is not None:
                notice = (
                    f"renewal_{stage}",
                    f"延续注册将于{days}天后开始受理",
                    f"您的注册将于{_date(until)}期满；延续注册自{_date(window.opens)}起受理"
                    f"（还有{days}天），需完成每个注册周期{rule_set.ce_hours_per_cycle}学时"
                    "的继续教育，请提前安排学习。",
                )
        if notice is None:
            continue
        kind, title, body = notice
        if await post(
            session=session,
            now=now,
            user_id=registration.user_id,
            kind=kind,
            title=title,
            body=body,
            key=f"{base}:{kind}",
        ):
            posted += 1
    return posted


async def _renewal_pending(session: AsyncSession, user_id: int) -> bool:
    return bool(
        await session.scalar(
            select(Application.id).where(
                Application.open_user_id == user_id,
                Application.kind == "renewal",
                Application.status != Status.DRAFT,
            )
        )
    )
