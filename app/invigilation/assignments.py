"""Who may watch which exam session: admins every one, invigilators those assigned to them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.accounts import idcard
from app.accounts.models import Role, User, UserRole
from app.audit import service as audit
from app.errors import AppError, Forbidden, NotFound
from app.exams import sessions
from app.exams.models import ExamSession
from app.invigilation.events import InvigilatorRemoved
from app.invigilation.models import Assignment

NOT_YOURS = "您不是该考场的监考员，无权查看或操作"


async def get_user(*, session: AsyncSession, user_id: int) -> User | None:
    """The account (with its roles) behind a user id."""
    return await session.get(User, user_id)


async def is_assigned(*, session: AsyncSession, session_id: int, user_id: int) -> bool:
    """Whether an invigilator is assigned to a session."""
    found = await session.scalar(
        select(Assignment.user_id).where(
            Assignment.session_id == session_id, Assignment.user_id == user_id
        )
    )
    return found is not None


async def require_access(*, session: AsyncSession, user: User, session_id: int) -> ExamSession:
    """The session, if this user may watch and act on it (admin, or assigned); else 403."""
    exam_session = await sessions.get_session(session=session, session_id=session_id)
    if user.has_role(Role.ADMIN):
        return exam_session
    if user.has_role(Role.INVIGILATOR) and await is_assigned(
        session=session, session_id=session_id, user_id=user.id
    ):
        return exam_session
    raise Forbidden(NOT_YOURS)


async def may_watch(*, session: AsyncSession, user_id: int, session_id: int) -> bool:
    """The same rule for a socket: re-read the account (roles may have changed)."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return False
    try:
        await require_access(session=session, user=user, session_id=session_id)
    except (Forbidden, NotFound):
        return False
    return True


async def sessions_for(*, session: AsyncSession, user: User) -> list[sessions.SessionRow]:
    """我的监考: every session for an admin, the assigned ones for an invigilator."""
    if user.has_role(Role.ADMIN):
        return await sessions.list_sessions(session=session)
    ids = list(
        await session.scalars(select(Assignment.session_id).where(Assignment.user_id == user.id))
    )
    return await sessions.list_sessions(session=session, ids=ids)


async def invigilators_of(
    *, session: AsyncSession, session_ids: list[int]
) -> dict[int, list[User]]:
    """The invigilators assigned to each of these sessions, by name."""
    rows = await session.execute(
        select(Assignment.session_id, User)
        .join(User, User.id == Assignment.user_id)
        .where(Assignment.session_id.in_(session_ids))
        .order_by(User.name, User.id)
    )
    found: dict[int, list[User]] = {sid: [] for sid in session_ids}
    for session_id, user in rows:
        found[session_id].append(user)
    return found


async def invigilator_choices(*, session: AsyncSession) -> list[User]:
    """Active accounts holding the invigilator role (for the assign form)."""
    return list(
        await session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.INVIGILATOR, User.is_active.is_(True))
            .order_by(User.name, User.id)
        )
    )


async def assign(
    *,
    session: AsyncSession,
    session_id: int,
    id_number: str,
    now: dt.datetime,
    actor_id: int,
    ip: str = "",
) -> User:
    """Assign the invigilator with this ID number to a session."""
    exam_session = await sessions.get_session(session=session, session_id=session_id)
    number = idcard.normalise(id_number)
    if not number:
        raise AppError("bad_invigilator", "请选择或输入监考员的身份证号")
    user = await session.scalar(select(User).where(User.id_number == number))
    if user is None:
        raise AppError("bad_invigilator", "没有该身份证号的账号")
    if not user.has_role(Role.INVIGILATOR) or not user.is_active:
        raise AppError(
            "bad_invigilator", f"{user.name} 不是监考员（请先在学员管理中为其添加“监考员”角色）"
        )
    if await is_assigned(session=session, session_id=session_id, user_id=user.id):
        raise AppError("already_assigned", f"{user.name} 已是该考场的监考员", 409)
    session.add(Assignment(session_id=session_id, user_id=user.id, assigned_at=now))
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="exam_session.assign",
        target_user_id=user.id,
        detail=f"考场：{exam_session.name}",
        ip=ip,
    )
    await session.flush()
    return user


async def unassign(
    *,
    session: AsyncSession,
    session_id: int,
    user_id: int,
    now: dt.datetime,
    actor_id: int,
    ip: str = "",
) -> None:
    """Take an invigilator off a session; their open dashboards are disconnected."""
    exam_session = await sessions.get_session(session=session, session_id=session_id)
    removed = await session.execute(
        delete(Assignment).where(Assignment.session_id == session_id, Assignment.user_id == user_id)
    )
    if not removed.rowcount:
        raise NotFound("该监考员不在本考场")
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="exam_session.unassign",
        target_user_id=user_id,
        detail=f"考场：{exam_session.name}",
        ip=ip,
    )
    events.record(session, InvigilatorRemoved(session_id=session_id, user_id=user_id))


async def create_session(
    *,
    session: AsyncSession,
    batch_id: int,
    name: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    id_numbers: list[str],
    now: dt.datetime,
    actor_id: int,
    ip: str = "",
) -> ExamSession:
    """An admin creates an exam session (audited)."""
    exam_session = await sessions.create_session(
        session=session,
        batch_id=batch_id,
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        id_numbers=id_numbers,
        now=now,
    )
    who = "全部报名学员" if exam_session.everyone else f"{len(id_numbers)} 名指定考生"
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="exam_session.create",
        detail=f"考场：{exam_session.name}；考生：{who}",
        ip=ip,
    )
    return exam_session


async def delete_session(
    *, session: AsyncSession, session_id: int, now: dt.datetime, actor_id: int, ip: str = ""
) -> None:
    """An admin deletes a session nobody has sat in (audited)."""
    await session.execute(delete(Assignment).where(Assignment.session_id == session_id))
    exam_session = await sessions.delete_session(session=session, session_id=session_id)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="exam_session.delete",
        detail=f"考场：{exam_session.name}",
        ip=ip,
    )
