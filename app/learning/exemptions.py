"""Learners excused from attention checks (防挂机).

An attention check asks the learner to read a code drawn as an image; a learner who cannot
(a screen-reader user, a low-vision learner) would be shut out of credited study. An admin
excuses such a learner on their 学员档案 page with a reason; the learner's play sessions
then never ask (docs/realtime.md, "Attention checks"). Granting and withdrawing are
recorded in the audit log.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.errors import AppError, Invalid
from app.learning import plays
from app.learning.models import AttentionExemption

if TYPE_CHECKING:
    from app.accounts.models import User

REASON_MAX = 200


@dataclasses.dataclass(frozen=True)
class Exemption:
    """Why and since when a learner is excused (who did it is in the audit log)."""

    reason: str
    granted_at: dt.datetime


async def get(*, session: AsyncSession, user_id: int) -> Exemption | None:
    """The learner's exemption, or None when checks apply to them."""
    row = (
        await session.execute(
            select(AttentionExemption.reason, AttentionExemption.granted_at).where(
                AttentionExemption.user_id == user_id
            )
        )
    ).first()
    return Exemption(*row) if row else None


def _reason(text: object) -> str:
    reason = " ".join(str(text or "").split())
    if not reason:
        raise Invalid({"reason": "请填写免除原因，例如：视力障碍，使用读屏软件学习"})
    if len(reason) > REASON_MAX:
        raise Invalid({"reason": f"免除原因不能超过 {REASON_MAX} 个字"})
    return reason


async def grant(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, user: User, reason: object
) -> None:
    """Excuse a learner from attention checks (their open check goes with ``clear_live``)."""
    text = _reason(reason)
    if await get(session=session, user_id=user.id) is not None:
        raise AppError("already_exempt", "该学员已免除防挂机验证")
    session.add(
        AttentionExemption(user_id=user.id, reason=text, granted_by=actor.id, granted_at=now)
    )
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.attention_exempt",
        target_user_id=user.id,
        detail=f"免除防挂机验证，原因：{text}",
        ip=actor.ip,
    )


async def revoke(
    *, session: AsyncSession, now: dt.datetime, actor: audit.Actor, user: User
) -> None:
    """Let attention checks apply to the learner again (from their next play session)."""
    removed = await session.execute(
        delete(AttentionExemption).where(AttentionExemption.user_id == user.id)
    )
    if not removed.rowcount:
        raise AppError("not_exempt", "该学员未免除防挂机验证，无需恢复")
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="learner.attention_restore",
        target_user_id=user.id,
        detail="恢复防挂机验证（从下次播放起生效）",
        ip=actor.ip,
    )


async def clear_live(*, redis, user_id: int) -> None:
    """After a grant is committed: the learner's open check, its held credit, a pause after
    wrong answers and the carried counter go at once, so the page playing now stops asking."""
    await plays.exempt(redis, user_id=user_id)
