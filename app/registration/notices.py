"""公告信息: the applicant's notice board. Every change of an application's or a
registration's state posts here (``reminders`` posts the dated ones when they fall due);
each notice is also e-mailed (``events``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.registration.events import NoticePosted
from app.registration.models import Notice


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


async def posted_keys(*, session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these keys have been posted already."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(await session.scalars(select(Notice.key).where(Notice.key.in_(chunk))))
    return found
