"""注册机构 administration: the authorities of each channel and their 注册初审 accounts."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import documents
from app.accounts import service as accounts
from app.accounts.models import User
from app.audit import service as audit
from app.errors import AppError, NotFound
from app.registration.channels import CHANNELS
from app.registration.models import Authority, AuthorityReviewer


@dataclasses.dataclass
class AuthorityRow:
    authority: Authority
    reviewers: list[User]


async def get_all(*, session: AsyncSession) -> list[AuthorityRow]:
    """Every authority with its reviewers, by channel and name."""
    rows = []
    for authority in await session.scalars(
        select(Authority).order_by(Authority.channel, Authority.name)
    ):
        reviewers = list(
            await session.scalars(
                select(User)
                .join(AuthorityReviewer, AuthorityReviewer.user_id == User.id)
                .where(AuthorityReviewer.authority_id == authority.id)
                .order_by(User.name)
            )
        )
        rows.append(AuthorityRow(authority, reviewers))
    return rows


async def create(
    *,
    session: AsyncSession,
    name: str,
    channel: str,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> Authority:
    name = " ".join((name or "").split())
    if not name or len(name) > 100:
        raise AppError("authority_name", "请填写注册机构名称（不超过100个字）")
    if channel not in CHANNELS:
        raise AppError("channel_required", "请选择注册渠道（省级、部委或中央企业）")
    if await session.scalar(select(Authority.id).where(Authority.name == name)):
        raise AppError("authority_exists", f"注册机构“{name}”已存在")
    authority = Authority(name=name, channel=channel, is_active=True, created_at=now)
    session.add(authority)
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.authority_add",
        detail=f"{CHANNELS[channel]}：{name}",
        ip=ip,
    )
    return authority


async def _get(session: AsyncSession, authority_id: int) -> Authority:
    authority = await session.get(Authority, authority_id)
    if authority is None:
        raise NotFound("注册机构不存在")
    return authority


async def set_active(
    *,
    session: AsyncSession,
    authority_id: int,
    active: bool,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> Authority:
    authority = await _get(session, authority_id)
    authority.is_active = active
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.authority_active",
        detail=f"{authority.name}：{'启用' if active else '停用'}",
        ip=ip,
    )
    return authority


async def add_reviewer(
    *,
    session: AsyncSession,
    authority_id: int,
    id_type: str,
    number: str,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> User:
    """Let a 注册初审 account review this authority's applications."""
    authority = await _get(session, authority_id)
    document = documents.parse(id_type, number, today=now.date())
    user = await accounts.get_by_document(
        session=session, id_type=document.type, number=document.value
    )
    if user is None:
        raise AppError("reviewer_unknown", "找不到该证件号码的账号，请先在“学员管理”中建立账号")
    if not user.has_role("reviewer"):
        raise AppError(
            "reviewer_role", f"{user.name} 没有“注册初审”角色，请先在“学员管理”中为其增加该角色"
        )
    exists = await session.get(AuthorityReviewer, (authority.id, user.id))
    if exists is None:
        session.add(AuthorityReviewer(authority_id=authority.id, user_id=user.id))
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.reviewer_add",
        target_user_id=user.id,
        detail=authority.name,
        ip=ip,
    )
    return user


async def remove_reviewer(
    *,
    session: AsyncSession,
    authority_id: int,
    user_id: int,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> None:
    authority = await _get(session, authority_id)
    await session.execute(
        delete(AuthorityReviewer).where(
            AuthorityReviewer.authority_id == authority.id, AuthorityReviewer.user_id == user_id
        )
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.reviewer_remove",
        target_user_id=user_id,
        detail=authority.name,
        ip=ip,
    )
