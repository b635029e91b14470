"""Certificates for people: the learner's page and downloads, public verification, and
the admin's list, retry and revocation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.accounts.models import User
from app.audit import service as audit
from app.certificates import render
from app.certificates.issuing import (
    PHOTO_MESSAGE,
    CertificateDue,
    file_path,
    get_by_attempt,
    request_certificate,
)
from app.certificates.models import DONE, Certificate, CertificateState
from app.certificates.numbers import normalise_number
from app.clock import SHANGHAI
from app.config import Config
from app.errors import AppError, NotFound
from app.exams.models import Attempt
from app.learning.models import Batch
from app.lib.masking import mask_name
from app.lib.paging import Page

PER_PAGE = 30


@dataclasses.dataclass
class LearnerRow:
    """One passed attempt on the learner's page, with its certificate once it has a row."""

    attempt: Attempt
    batch_name: str
    certificate: Certificate | None

    @property
    def state(self) -> str:
        return self.certificate.state if self.certificate else CertificateState.QUEUED

    @property
    def pending(self) -> bool:
        return self.state in (CertificateState.QUEUED, CertificateState.RENDERING)

    @property
    def score_text(self) -> str:
        return render.score_text(self.attempt.score or 0.0)


async def certificates_of(*, session: AsyncSession, user_id: int) -> list[LearnerRow]:
    """The learner's passed attempts, newest first, each with its certificate (if any yet)."""
    rows = await session.execute(
        select(Attempt, Batch.name, Certificate)
        .join(Batch, Batch.id == Attempt.batch_id)
        .outerjoin(Certificate, Certificate.attempt_id == Attempt.id)
        .where(Attempt.user_id == user_id, Attempt.passed.is_(True))
        .order_by(Attempt.ended_at.desc(), Attempt.id.desc())
    )
    return [LearnerRow(attempt=a, batch_name=name, certificate=c) for a, name, c in rows]


async def regenerate(
    *, session: AsyncSession, user_id: int, attempt_id: int, now: dt.datetime
) -> Certificate:
    """The learner asks again, e.g. after uploading the photo; the job is queued on commit."""
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None or attempt.user_id != user_id or attempt.passed is not True:
        raise NotFound("证书不存在")
    certificate = await request_certificate(session=session, attempt=attempt, now=now)
    if certificate.state in DONE:
        raise AppError("certificate_done", "证书已生成，无需重新生成", 409)
    if certificate.state == CertificateState.NEEDS_PHOTO:
        photo = await session.scalar(select(User.photo_file).where(User.id == user_id))
        if not photo:
            raise AppError("photo_missing", PHOTO_MESSAGE, 409)
        certificate.state = CertificateState.QUEUED
        certificate.error = ""
        certificate.updated_at = now
        await session.flush()
    events.record(session, CertificateDue(attempt_id, fresh=True))
    return certificate


async def get_for_download(
    *, session: AsyncSession, number: str, user: User, config: Config
) -> tuple[Certificate, Path]:
    """The certificate and its file, for its owner or an admin; everyone else gets 404."""
    value = normalise_number(number)
    certificate = None
    if value is not None:
        certificate = await session.scalar(select(Certificate).where(Certificate.number == value))
    is_admin = user.has_role("admin")
    if certificate is None or (certificate.user_id != user.id and not is_admin):
        raise NotFound("证书不存在")
    if certificate.state == CertificateState.REVOKED and not is_admin:
        raise AppError("certificate_revoked", "该证书已撤销，不能下载", 410)
    if certificate.state not in DONE:
        raise AppError("certificate_not_ready", "证书尚未生成，请稍后再试", 409)
    path = file_path(config, certificate)
    if not path.is_file():
        raise AppError("certificate_file_missing", "证书文件缺失，请联系管理员重新生成", 404)
    return certificate, path


# ---------------------------------------------------------------------------- verification


@dataclasses.dataclass
class Verification:
    """What the public verification page may show: nothing beyond these fields."""

    status: str  # valid / revoked / unknown
    number: str
    masked_name: str = ""
    batch_name: str = ""
    minutes: int = 0
    issue_date: str = ""
    revoked_date: str = ""
    centre_name: str = ""

    @property
    def hours(self) -> str:
        return render.hours_text(self.minutes)


def _local_date(value: dt.datetime | None) -> str:
    return render.date_text(value.astimezone(SHANGHAI).date()) if value else ""


async def verify(*, session: AsyncSession, number: str, config: Config) -> Verification:
    """Look a number up for the public page: valid, revoked, or unknown."""
    value = normalise_number(number)
    shown = value or (number or "").strip()[:40]
    if value is None:
        return Verification(status="unknown", number=shown)
    certificate = await session.scalar(select(Certificate).where(Certificate.number == value))
    if certificate is None or certificate.state not in DONE:
        return Verification(status="unknown", number=value)
    return Verification(
        status="valid" if certificate.state == CertificateState.ISSUED else "revoked",
        number=value,
        masked_name=mask_name(certificate.holder_name),
        batch_name=certificate.batch_name,
        minutes=certificate.minutes,
        issue_date=_local_date(certificate.issued_at),
        revoked_date=_local_date(certificate.revoked_at),
        centre_name=config.centre_name,
    )


# ---------------------------------------------------------------------------- admin


ADMIN_FILTERS = {
    "": "全部",
    "attention": "需处理",
    "pending": "生成中",
    "issued": "已发放",
    "revoked": "已撤销",
}
_FILTER_STATES = {
    "attention": (CertificateState.FAILED, CertificateState.NEEDS_PHOTO),
    "pending": (CertificateState.QUEUED, CertificateState.RENDERING),
    "issued": (CertificateState.ISSUED,),
    "revoked": (CertificateState.REVOKED,),
}


@dataclasses.dataclass
class AdminRow:
    certificate: Certificate
    name: str
    id_number: str
    batch_name: str
    score: float | None


async def count_by_state(*, session: AsyncSession) -> dict[str, int]:
    """How many certificates are in each state (every state listed, 0 included)."""
    rows = dict(
        (await session.execute(select(Certificate.state, func.count()).group_by(Certificate.state)))
        .tuples()
        .all()
    )
    return {str(state): rows.get(state, 0) for state in CertificateState}


async def admin_counts(*, session: AsyncSession) -> dict[str, int]:
    """How many certificates each admin filter shows."""
    rows = await count_by_state(session=session)
    counts = {key: sum(rows.get(s, 0) for s in states) for key, states in _FILTER_STATES.items()}
    counts[""] = sum(rows.values())
    return counts


async def admin_list(
    *, session: AsyncSession, state: str = "", query: str = "", page: int = 1
) -> Page[AdminRow]:
    """Certificates for admins, most recently changed first, by state and search text."""
    conditions = []
    if state in _FILTER_STATES:
        conditions.append(Certificate.state.in_(_FILTER_STATES[state]))
    query = (query or "").strip()
    if query:
        like = f"%{query}%"
        number = normalise_number(query)
        conditions.append(
            or_(
                Certificate.number == (number or query.upper()),
                User.name.like(like),
                User.id_number == query.upper(),
            )
        )
    base = (
        select(Certificate, User.name, User.id_number, Batch.name, Attempt.score)
        .join(User, User.id == Certificate.user_id)
        .join(Batch, Batch.id == Certificate.batch_id)
        .join(Attempt, Attempt.id == Certificate.attempt_id)
        .where(*conditions)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    result = Page.of(page, PER_PAGE, total or 0)
    rows = await session.execute(
        base.order_by(Certificate.updated_at.desc(), Certificate.id.desc())
        .offset(result.offset)
        .limit(result.per_page)
    )
    result.items = [AdminRow(c, name, idn, batch, score) for c, name, idn, batch, score in rows]
    return result


async def _get(session: AsyncSession, certificate_id: int) -> Certificate:
    certificate = await session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound("证书不存在")
    return certificate


async def retry(
    *,
    session: AsyncSession,
    certificate_id: int,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> Certificate:
    """Put a failed or stuck certificate back in the queue (admin); the job is queued on commit."""
    certificate = await _get(session, certificate_id)
    if certificate.state in DONE:
        raise AppError("certificate_done", "该证书已发放或已撤销，无需重新生成", 409)
    if certificate.state == CertificateState.RENDERING and certificate.lease_until > now:
        raise AppError("certificate_busy", "该证书正在生成，请稍后刷新查看", 409)
    certificate.state = CertificateState.QUEUED
    certificate.error = ""
    certificate.lease_until = None
    certificate.updated_at = now
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="certificate.retry",
        target_user_id=certificate.user_id,
        detail=f"证书编号 {certificate.number}",
        ip=ip,
    )
    events.record(session, CertificateDue(certificate.attempt_id, fresh=True))
    return certificate


async def retry_failed(
    *, session: AsyncSession, now: dt.datetime, actor_id: int | None = None, ip: str = ""
) -> list[int]:
    """Every failed certificate back in the queue (证书管理's 全部重试, or the
    retry-certificates command); returns their attempt ids."""
    rows = list(
        await session.scalars(
            select(Certificate).where(Certificate.state == CertificateState.FAILED)
        )
    )
    for certificate in rows:
        await retry(
            session=session, certificate_id=certificate.id, now=now, actor_id=actor_id, ip=ip
        )
    return [c.attempt_id for c in rows]


async def failed_count(*, session: AsyncSession) -> int:
    """How many certificates failed (what 全部重试 would queue again)."""
    return await session.scalar(
        select(func.count(Certificate.id)).where(Certificate.state == CertificateState.FAILED)
    )


async def revoke(
    *,
    session: AsyncSession,
    certificate_id: int,
    reason: str,
    now: dt.datetime,
    actor_id: int,
    ip: str = "",
) -> Certificate:
    """Revoke an issued certificate with a reason; verification then says 已撤销."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError("revoke_reason", "请填写撤销原因")
    if len(reason) > 200:
        raise AppError("revoke_reason", f"撤销原因不能超过200字（现为{len(reason)}字）")
    certificate = await _get(session, certificate_id)
    if certificate.state == CertificateState.REVOKED:
        raise AppError("certificate_revoked", "该证书已撤销", 409)
    if certificate.state != CertificateState.ISSUED:
        raise AppError("certificate_not_issued", "只能撤销已发放的证书", 409)
    await _revoke(session, certificate, reason=reason, now=now, actor_id=actor_id, ip=ip)
    return certificate


async def _revoke(session, certificate: Certificate, *, reason: str, now, actor_id, ip="") -> None:
    """Mark a certificate revoked (no job issues it any more) and audit it."""
    certificate.state = CertificateState.REVOKED
    certificate.revoked_at = now
    certificate.revoked_by = actor_id
    certificate.revoke_reason = reason
    certificate.lease_until = None
    certificate.updated_at = now
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="certificate.revoke",
        target_user_id=certificate.user_id,
        detail=f"证书编号 {certificate.number}；原因：{reason}",
        ip=ip,
    )


# ---------------------------------------------------------------------------- other areas


@dataclasses.dataclass(frozen=True)
class EarnedCertificate:
    """An issued certificate as continuing-education credit (for registration renewal)."""

    number: str
    batch_name: str
    minutes: int
    issued_at: dt.datetime

    @property
    def hours(self) -> str:
        return render.hours_text(self.minutes)

    @property
    def tenths(self) -> int:
        """The 学时 it credits, in tenths, as printed on it."""
        return render.credit_tenths(self.minutes)


MINUTES_PER_HOUR = render.MINUTES_PER_HOUR


async def certificates_in(
    *, session: AsyncSession, user_id: int, start: dt.datetime, end: dt.datetime
) -> list[EarnedCertificate]:
    """A person's issued (not revoked) certificates issued in [start, end), oldest first."""
    rows = await session.scalars(
        select(Certificate)
        .where(
            Certificate.user_id == user_id,
            Certificate.state == CertificateState.ISSUED,
            Certificate.issued_at >= start,
            Certificate.issued_at < end,
        )
        .order_by(Certificate.issued_at, Certificate.id)
    )
    return [EarnedCertificate(c.number, c.batch_name, c.minutes, c.issued_at) for c in rows]


async def revoke_voided(
    *, session: AsyncSession, attempt_id: int, reason: str, now: dt.datetime, actor_id: int | None
) -> Certificate | None:
    """An invigilator voided the attempt: its certificate (issued or still on its way) is
    revoked, so verification says 已撤销 and no job issues it any more."""
    certificate = await get_by_attempt(session=session, attempt_id=attempt_id)
    if certificate is None or certificate.state == CertificateState.REVOKED:
        return None
    why = f"考试已被监考员作废：{reason}"[:200]
    await _revoke(session, certificate, reason=why, now=now, actor_id=actor_id)
    return certificate
