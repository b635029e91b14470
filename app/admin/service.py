"""Learner administration: finding accounts and the resets only an admin may do.

Every change is recorded in the audit log in the same transaction. Deleting an old photo
file waits for the commit (left to the caller); ending sessions follows it as an event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.accounts import idcard
from app.accounts import service as accounts
from app.accounts.events import RolesChanged, SessionsEnded
from app.accounts.models import ROLE_LABELS, Role, User, UserRole
from app.audit import service as audit
from app.clock import local_date
from app.config import Config
from app.errors import AppError, Invalid, NotFound
from app.learning.models import Batch, Enrolment
from app.lib.paging import Page
from app.profile import service as profile

# Filter value -> (label, condition) for the status filter of the learner list.
STATUS_FILTERS = {
    "no_photo": ("未上传照片", User.photo_file.is_(None)),
    "no_phone": ("未绑定手机", User.phone.is_(None)),
    "initial_password": ("未修改初始密码", User.must_change_password.is_(True)),
    "inactive": ("已停用", User.is_active.is_(False)),
}


Actor = audit.Actor


@dataclasses.dataclass
class Overview:
    learners: int
    batches: int
    enrolments: int
    photos_missing: int
    phones_unbound: int
    initial_passwords: int


def _learner_ids():
    return select(UserRole.user_id).where(UserRole.role == Role.LEARNER)


async def overview(*, session: AsyncSession) -> Overview:
    """The counts on the administration home."""
    is_learner = User.id.in_(_learner_ids())

    async def count(*conditions) -> int:
        return await session.scalar(select(func.count(User.id)).where(is_learner, *conditions))

    return Overview(
        learners=await count(),
        batches=await session.scalar(select(func.count(Batch.id))),
        enrolments=await session.scalar(select(func.count(Enrolment.id))),
        photos_missing=await count(User.photo_file.is_(None)),
        phones_unbound=await count(User.phone.is_(None)),
        initial_passwords=await count(User.must_change_password.is_(True)),
    )


async def batches(*, session: AsyncSession) -> list[Batch]:
    """Every batch, newest first, for filters and listings."""
    return list((await session.scalars(select(Batch).order_by(Batch.id.desc()))).all())


async def search_users(
    *,
    session: AsyncSession,
    query: str = "",
    batch_id: int | None = None,
    role: str = "",
    status: str = "",
    page: int = 1,
    per_page: int = 20,
) -> Page[User]:
    """Accounts matching a whole ID number, or part of a name or work unit, newest first."""
    conditions = []
    query = " ".join(query.split())
    if query:
        if idcard.SHAPE.match(idcard.normalise(query)):
            # ID numbers are encrypted: a whole one is found by its blind index, never a
            # part (and the number itself goes into no query).
            conditions.append(User.id_number == query)
        else:
            conditions.append(
                User.name.contains(query, autoescape=True)
                | User.work_unit.contains(query, autoescape=True)
            )
    if batch_id:
        conditions.append(
            User.id.in_(select(Enrolment.user_id).where(Enrolment.batch_id == batch_id))
        )
    if role:
        conditions.append(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if status in STATUS_FILTERS:
        conditions.append(STATUS_FILTERS[status][1])
    total = await session.scalar(select(func.count(User.id)).where(*conditions))
    result = Page.of(page, per_page, total or 0)
    rows = await session.scalars(
        select(User)
        .where(*conditions)
        .order_by(User.id.desc())
        .offset(result.offset)
        .limit(per_page)
    )
    result.items = list(rows.all())
    return result


@dataclasses.dataclass
class EnrolmentView:
    batch: Batch
    enrolled_at: dt.datetime


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    """The account, or a Chinese 404."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("该账号不存在")
    return user


async def enrolments_of(*, session: AsyncSession, user_id: int) -> list[EnrolmentView]:
    """The batches a user is enrolled in, newest first."""
    rows = await session.execute(
        select(Batch, Enrolment.enrolled_at)
        .join(Enrolment, Enrolment.batch_id == Batch.id)
        .where(Enrolment.user_id == user_id)
        .order_by(Enrolment.enrolled_at.desc(), Batch.id.desc())
    )
    return [EnrolmentView(batch, at) for batch, at in rows]


async def reset_photo(
    *, session: AsyncSession, config: Config, now: dt.datetime, actor: Actor, user: User
) -> Path | None:
    """Clear the photo so the learner can upload again; returns the old file to delete."""
    if not user.photo_file:
        raise AppError("photo_none", "该学员尚未上传照片，无需重置")
    old = await profile.reset_photo(session=session, config=config, user=user)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.photo_reset",
        target_user_id=user.id,
        detail="照片已清除，学员可重新上传",
        ip=actor.ip,
    )
    return old


async def set_phone(
    *, session: AsyncSession, now: dt.datetime, actor: Actor, user: User, phone: str | None
) -> None:
    """Change or clear the bound phone of a user."""
    phone = (phone or "").strip() or None
    old = user.phone
    if phone is None and old is None:
        raise AppError("phone_none", "该学员尚未绑定手机号")
    if phone is not None and phone == old:
        raise AppError("phone_same", "新手机号与当前绑定的手机号相同")
    await profile.set_phone(session=session, user=user, phone=phone, now=now)
    if phone:
        action, detail = "learner.phone_set", f"手机号由 {old or '未绑定'} 改为 {phone}"
    else:
        action, detail = "learner.phone_clear", f"清除手机号 {old}，学员可重新绑定"
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action=action,
        target_user_id=user.id,
        detail=detail,
        ip=actor.ip,
    )


async def reissue_password(
    *, session: AsyncSession, config: Config, now: dt.datetime, actor: Actor, user: User
) -> None:
    """Reset the password to the initial one (which signs the user out everywhere)."""
    await accounts.reissue_initial_password(session=session, config=config, now=now, user=user)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.password_reissue",
        target_user_id=user.id,
        detail=f"初始密码（身份证号后六位）已重新发放，{config.initial_password_days} 天内有效",
        ip=actor.ip,
    )


async def set_active(
    *, session: AsyncSession, now: dt.datetime, actor: Actor, user: User, active: bool
) -> None:
    """Enable or disable an account; a disabled one is signed out everywhere on commit."""
    if not active and user.id == actor.id:
        raise AppError("self_deactivate", "不能停用自己的账号")
    if user.is_active == active:
        raise AppError("active_same", "该账号已启用" if active else "该账号已停用")
    user.is_active = active
    await session.flush()
    if not active:
        events.record(session, SessionsEnded(user.id, "deactivated"))
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.activate" if active else "learner.deactivate",
        target_user_id=user.id,
        detail="账号已启用" if active else "账号已停用，已登录的会话全部退出",
        ip=actor.ip,
    )


def role_text(roles) -> str:
    """Roles as Chinese labels, in the canonical order."""
    chosen = set(roles)
    return "、".join(ROLE_LABELS[r] for r in Role if r.value in chosen) or "无"


async def set_roles(
    *, session: AsyncSession, now: dt.datetime, actor: Actor, user: User, roles: list[str]
) -> None:
    """Replace a user's roles: at least one, and an admin keeps their own admin role."""
    wanted = set(roles)
    unknown = wanted - {r.value for r in Role}
    if unknown:
        raise AppError("role_invalid", f"未知角色：{'、'.join(sorted(unknown))}")
    if not wanted:
        raise AppError("role_required", "请至少选择一个角色")
    if user.id == actor.id and Role.ADMIN not in wanted:
        raise AppError("self_admin", "不能取消自己的管理员角色")
    before = set(user.role_names)
    if wanted == before:
        raise AppError("role_same", "角色没有变化")
    # Change only the difference so that unchanged rows keep their primary keys.
    for link in [link for link in user.roles if link.role not in wanted]:
        user.roles.remove(link)
    for role in (r.value for r in Role if r.value in wanted - before):
        user.roles.append(UserRole(role=role))
    await session.flush()
    events.record(session, RolesChanged(user.id))
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.roles",
        target_user_id=user.id,
        detail=f"角色由 {role_text(before)} 改为 {role_text(wanted)}",
        ip=actor.ip,
    )


async def create_learner(
    *, session: AsyncSession, config: Config, now: dt.datetime, actor: Actor, fields: dict
) -> User:
    """Create one learner by hand; every bad field is reported next to it."""
    errors: dict[str, str] = {}
    parsed = None
    try:
        parsed = idcard.parse(fields.get("id_number", ""), today=local_date(now))
    except AppError as error:
        errors["id_number"] = error.message
    name = " ".join((fields.get("name") or "").split())
    if not name or len(name) > 50:
        errors["name"] = "请填写姓名（不超过 50 个字）"
    gender = (fields.get("gender") or "").strip()
    if gender not in ("男", "女"):
        errors["gender"] = "请选择性别"
    elif parsed is not None and parsed.gender != gender:
        errors["gender"] = f"性别与身份证号不符（身份证号显示为{parsed.gender}）"
    work_unit = " ".join((fields.get("work_unit") or "").split())
    if len(work_unit) > 200:
        errors["work_unit"] = "工作单位不能超过 200 个字"
    if parsed is not None and await accounts.get_by_id_number(
        session=session, id_number=parsed.value
    ):
        errors["id_number"] = "该身份证号的账号已存在，请在学员管理中查找"
    if errors:
        raise Invalid(errors)
    user = await accounts.create(
        session=session,
        config=config,
        now=now,
        id_number=parsed.value,
        name=name,
        gender=gender,
        work_unit=work_unit,
        roles=(Role.LEARNER,),
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.create",
        target_user_id=user.id,
        detail="新建学员账号（初始密码为身份证号后六位）",
        ip=actor.ip,
    )
    return user


async def unlock(
    *, session: AsyncSession, redis, config: Config, now: dt.datetime, actor: Actor, user: User
) -> None:
    """Clear the failed logins that locked an account."""
    if await accounts.locked_until(redis, config=config, user=user, now=now) is None:
        raise AppError("not_locked", "该账号未被锁定，无需解锁")
    await accounts.unlock(redis, user=user)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.unlock",
        target_user_id=user.id,
        detail="解除登录失败次数过多造成的锁定",
        ip=actor.ip,
    )
