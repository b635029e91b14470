"""Registration demo data: authorities, the reviewers' assignment and qualification records
for the demo applicant and the demo learner. Idempotent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.registration.models import Authority, AuthorityReviewer, Qualification

AUTHORITIES = (
    ("天津市应急管理局", "province"),
    ("北京市应急管理局", "province"),
    ("交通运输部安全与质量监督管理司", "ministry"),
    ("中国石油天然气集团有限公司", "central"),
)


async def seed(
    *,
    session: AsyncSession,
    now: dt.datetime,
    reviewer: User,
    records: list[tuple[User, str, str, dt.date]],
) -> None:
    """Authorities, the 初审 reviewer of the first one, and a qualification record per
    (person, certificate number, category, date qualified)."""
    first = None
    for name, channel in AUTHORITIES:
        authority = await session.scalar(select(Authority).where(Authority.name == name))
        if authority is None:
            authority = Authority(name=name, channel=channel, is_active=True, created_at=now)
            session.add(authority)
            await session.flush()
        first = first or authority
    if await session.get(AuthorityReviewer, (first.id, reviewer.id)) is None:
        session.add(AuthorityReviewer(authority_id=first.id, user_id=reviewer.id))
    for user, number, category, qualified_on in records:
        if await session.scalar(
            select(Qualification.id).where(Qualification.certificate_no == number)
        ):
            continue
        session.add(
            Qualification(
                name=user.name,
                id_type=user.id_type,
                id_number=user.id_number,
                certificate_no=number,
                level="中级",
                category=category,
                qualified_on=qualified_on,
                imported_at=now,
            )
        )
    await session.flush()
