"""Two-stage review: the authority's 初审 (approve, or return with reasons per section),
then the 终审 (approve: the registration is issued or updated; or reject with a reason).

The order is enforced by the application's status, one person never decides both stages
of one application, and every decision is audited and posted to the applicant's board."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.audit import service as audit
from app.errors import AppError, Forbidden, NotFound
from app.registration import notices, registry, submission
from app.registration.models import (
    Application,
    Authority,
    AuthorityReviewer,
    Decision,
    Registration,
    Status,
    Submission,
)

# Sections a first reviewer may give a reason for, when returning an application.
RETURN_SECTIONS = {
    "channel": "注册渠道及专业类别",
    "personal": "个人基本信息（含照片）",
    "employer": "聘用单位信息",
    "education": "继续教育信息",
    "experience": "工作经历",
    "other": "其他",
}


@dataclasses.dataclass
class QueueRow:
    application: Application
    name: str
    authority: str
    since: dt.datetime

    def waited(self, now: dt.datetime) -> str:
        """How long it has waited at this stage: 3天5小时, 2小时10分钟, 8分钟."""
        minutes = max(0, int((now - self.since).total_seconds() // 60))
        days, rest = divmod(minutes, 1440)
        hours, minutes = divmod(rest, 60)
        if days:
            return f"{days}天{hours}小时"
        if hours:
            return f"{hours}小时{minutes}分钟"
        return f"{minutes}分钟"


async def authorities_of(*, session: AsyncSession, user_id: int) -> list[Authority]:
    """The authorities a 注册初审 account reviews for."""
    return list(
        await session.scalars(
            select(Authority)
            .join(AuthorityReviewer, AuthorityReviewer.authority_id == Authority.id)
            .where(AuthorityReviewer.user_id == user_id)
            .order_by(Authority.name)
        )
    )


async def _queue(session: AsyncSession, status: str, since, *conditions) -> list[QueueRow]:
    rows = await session.execute(
        select(Application, User.name, Authority.name)
        .join(User, User.id == Application.user_id)
        .join(Authority, Authority.id == Application.authority_id)
        .where(Application.status == status, *conditions)
        .order_by(since, Application.id)
    )
    return [QueueRow(a, name, authority, getattr(a, since.key)) for a, name, authority in rows]


async def first_queue(*, session: AsyncSession, reviewer: User) -> list[QueueRow]:
    """Applications waiting for 初审 at the reviewer's authorities, longest-waiting first."""
    ids = [a.id for a in await authorities_of(session=session, user_id=reviewer.id)]
    if not ids:
        return []
    return await _queue(
        session, Status.SUBMITTED, Application.submitted_at, Application.authority_id.in_(ids)
    )


async def final_queue(*, session: AsyncSession) -> list[QueueRow]:
    """Applications waiting for 终审, longest-waiting first."""
    return await _queue(session, Status.FIRST_APPROVED, Application.first_decided_at)


async def recent_decisions(
    *, session: AsyncSession, reviewer_id: int, limit: int = 20
) -> list[tuple[Decision, Application, str]]:
    rows = await session.execute(
        select(Decision, Application, User.name)
        .join(Application, Application.id == Decision.application_id)
        .join(User, User.id == Application.user_id)
        .where(Decision.reviewer_id == reviewer_id)
        .order_by(Decision.decided_at.desc(), Decision.id.desc())
        .limit(limit)
    )
    return [tuple(r) for r in rows]


async def reviews_authority(*, session: AsyncSession, application: Application, user: User) -> bool:
    """Is this person a 注册初审 of the application's own authority (the only one who may
    decide its first stage)?"""
    if not user.has_role("reviewer"):
        return False
    ids = {a.id for a in await authorities_of(session=session, user_id=user.id)}
    return application.authority_id in ids


async def can_review(*, session: AsyncSession, application: Application, user: User) -> bool:
    """May this person see the application (a reviewer of its authority, or a 终审)?"""
    if user.has_role("final_reviewer"):
        return True
    return await reviews_authority(session=session, application=application, user=user)


async def get_for_review(
    *, session: AsyncSession, application_id: int, user: User
) -> tuple[Application, Submission, list[Decision]]:
    """An application with its latest submitted form and its decisions so far."""
    application = await session.get(Application, application_id)
    if application is None or application.submissions == 0:
        raise NotFound("申请不存在")
    if not await can_review(session=session, application=application, user=user):
        raise Forbidden("该申请不属于您所在注册机构的审核范围")
    latest = await submission.latest_submission(session=session, application_id=application.id)
    decisions = list(
        await session.scalars(
            select(Decision)
            .where(Decision.application_id == application.id)
            .order_by(Decision.decided_at, Decision.id)
        )
    )
    return application, latest, decisions


async def _decided_stage(session: AsyncSession, application_id: int, user_id: int) -> set[str]:
    rows = await session.scalars(
        select(Decision.stage).where(
            Decision.application_id == application_id, Decision.reviewer_id == user_id
        )
    )
    return set(rows)


async def _claim(session: AsyncSession, application: Application, expected: str, **values) -> None:
    """Move the application on only if it is still where the reviewer saw it: two
    reviewers deciding at once cannot both win."""
    result = await session.execute(
        update(Application)
        .where(Application.id == application.id, Application.status == expected)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AppError("already_decided", "该申请已由其他审核人员处理，请刷新页面", 409)
    await session.refresh(application)


async def _record(session, application, sub, stage, outcome, reviewer, reasons, now, ip, detail):
    session.add(
        Decision(
            application_id=application.id,
            submission_id=sub.id,
            stage=stage,
            outcome=outcome,
            reviewer_id=reviewer.id,
            reasons=json.dumps(reasons, ensure_ascii=False),
            decided_at=now,
        )
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=reviewer.id,
        action=f"registration.{stage}_{outcome}",
        target_user_id=application.user_id,
        detail=f"{application.kind_label}申请 #{application.id}{detail}",
        ip=ip,
    )


async def decide_first(
    *,
    session: AsyncSession,
    application_id: int,
    reviewer: User,
    outcome: str,
    reasons: dict[str, str],
    now: dt.datetime,
    ip: str = "",
) -> Application:
    """初审: approve (on to 终审) or return to the applicant with reasons per section."""
    if not reviewer.has_role("reviewer"):
        raise Forbidden("只有注册初审人员可以进行初审")
    application, sub, _ = await get_for_review(
        session=session, application_id=application_id, user=reviewer
    )
    # A 终审 sees every application, but the first stage is the authority's own.
    if not await reviews_authority(session=session, application=application, user=reviewer):
        raise Forbidden("初审只能由该申请所属注册机构的初审人员作出，该申请不在您的初审范围")
    if application.user_id == reviewer.id:
        raise AppError("own_application", "不能审核本人的注册申请", 403)
    if application.status != Status.SUBMITTED:
        raise AppError(
            "wrong_stage", f"该申请当前为“{application.status_label}”，不在初审阶段", 409
        )
    if "final" in await _decided_stage(session, application.id, reviewer.id):
        raise AppError(
            "both_stages", "您已对该申请作出终审决定，同一申请的初审和终审不能由同一人作出", 403
        )
    reasons = {k: " ".join(v.split())[:300] for k, v in reasons.items() if k in RETURN_SECTIONS}
    reasons = {k: v for k, v in reasons.items() if v}
    if outcome == "approve":
        await _claim(
            session,
            application,
            Status.SUBMITTED,
            status=Status.FIRST_APPROVED,
            first_decided_at=now,
            updated_at=now,
        )
        await _record(session, application, sub, "first", "approve", reviewer, {}, now, ip, "")
        title, body = "初审通过", f"您的{application.kind_label}申请已通过初审，等待终审。"
    elif outcome == "return":
        if not reasons:
            raise AppError("reasons_required", "退回申请须至少填写一项退回原因，说明需要修改的内容")
        await _claim(
            session,
            application,
            Status.SUBMITTED,
            status=Status.RETURNED,
            first_decided_at=now,
            updated_at=now,
            return_reasons=json.dumps(reasons, ensure_ascii=False),
        )
        listed = "；".join(f"{RETURN_SECTIONS[k]}：{v}" for k, v in reasons.items())
        await _record(
            session,
            application,
            sub,
            "first",
            "return",
            reviewer,
            reasons,
            now,
            ip,
            f"；退回原因：{listed}",
        )
        title = "申请被退回，请修改后重新上报"
        body = f"您的{application.kind_label}申请被初审退回。退回原因：{listed}"
    else:
        raise AppError("outcome_invalid", "请选择“初审通过”或“退回修改”")
    await notices.post(
        session=session,
        now=now,
        user_id=application.user_id,
        kind=f"first_{outcome}",
        title=title,
        body=body,
        application_id=application.id,
    )
    return application


async def decide_final(
    *,
    session: AsyncSession,
    application_id: int,
    reviewer: User,
    outcome: str,
    reason: str,
    now: dt.datetime,
    ip: str = "",
) -> Registration | None:
    """终审: approve (the registration number and validity are issued) or reject."""
    if not reviewer.has_role("final_reviewer"):
        raise Forbidden("只有注册终审人员可以进行终审")
    application, sub, _ = await get_for_review(
        session=session, application_id=application_id, user=reviewer
    )
    if application.user_id == reviewer.id:
        raise AppError("own_application", "不能审核本人的注册申请", 403)
    if application.status == Status.SUBMITTED:
        raise AppError("wrong_stage", "该申请尚未通过初审，须先由注册机构初审后才能终审", 409)
    if application.status != Status.FIRST_APPROVED:
        raise AppError(
            "wrong_stage", f"该申请当前为“{application.status_label}”，不在终审阶段", 409
        )
    if "first" in await _decided_stage(session, application.id, reviewer.id):
        raise AppError(
            "both_stages", "您已对该申请作出初审决定，同一申请的初审和终审不能由同一人作出", 403
        )
    reason = " ".join((reason or "").split())
    form = json.loads(sub.form)
    if outcome == "approve":
        await _claim(
            session,
            application,
            Status.FIRST_APPROVED,
            status=Status.APPROVED,
            final_decided_at=now,
            updated_at=now,
            open_user_id=None,
        )
        registration = await registry.apply_approved(
            session=session, application=application, form=form, now=now
        )
        validity = (
            f"{registration.valid_from.isoformat()} 至 {registration.valid_until.isoformat()}"
        )
        await _record(
            session,
            application,
            sub,
            "final",
            "approve",
            reviewer,
            {},
            now,
            ip,
            f"；注册编号 {registration.number}，有效期 {validity}",
        )
        await notices.post(
            session=session,
            now=now,
            user_id=application.user_id,
            kind="final_approve",
            title=f"{application.kind_label}已获准",
            body=f"您的{application.kind_label}申请已通过终审，准予注册。注册编号 "
            f"{registration.number}，注册有效期 {validity}。",
            application_id=application.id,
        )
        return registration
    if outcome != "reject":
        raise AppError("outcome_invalid", "请选择“终审通过”或“不予注册”")
    if not reason:
        raise AppError("reason_required", "不予注册须填写理由")
    if len(reason) > 300:
        raise AppError("reason_long", f"理由不能超过300字（现为{len(reason)}字）")
    await _claim(
        session,
        application,
        Status.FIRST_APPROVED,
        status=Status.REJECTED,
        final_decided_at=now,
        updated_at=now,
        open_user_id=None,
        final_reason=reason,
    )
    await _record(
        session,
        application,
        sub,
        "final",
        "reject",
        reviewer,
        {"reason": reason},
        now,
        ip,
        f"；理由：{reason}",
    )
    await notices.post(
        session=session,
        now=now,
        user_id=application.user_id,
        kind="final_reject",
        title=f"{application.kind_label}申请不予注册",
        body=f"您的{application.kind_label}申请经终审不予注册。理由：{reason}",
        application_id=application.id,
    )
    return None


def waited_since(application: Application) -> dt.datetime | None:
    if application.status == Status.SUBMITTED:
        return application.submitted_at
    if application.status == Status.FIRST_APPROVED:
        return application.first_decided_at
    return None
