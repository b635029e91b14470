"""Certificate rules: numbers, the issuing states, downloads, verification and revocation.

A passed attempt gets exactly one certificate row (attempt_id is unique) and so exactly one
number, however often its job is queued, retried or duplicated. A job *claims* the row
(creates it claimed, or moves it queued/failed/needs_photo -> rendering with a lease in one
conditional UPDATE), renders outside any transaction, then records the outcome only if its
claim still stands.

Other areas call ``queue_certificates(svc, attempt_ids)`` once a passed attempt is
committed; a per-minute sweep catches whatever was never queued.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import idcard
from app.accounts.models import User
from app.admin import audit
from app.admin.paging import Page
from app.certificates import render
from app.certificates.models import Certificate, CertificateState
from app.clock import SHANGHAI
from app.config import Config
from app.errors import AppError, NotFound
from app.exams.models import Attempt
from app.learning.models import Batch

log = logging.getLogger("safece.certificates")

# Crockford's base32: no I, L, O or U, so a number read aloud or retyped stays unambiguous.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_CHARS = 10  # 50 random bits: numbers cannot be guessed in sequence
NUMBER_SHAPE = re.compile(rf"^\d{{4}}[{ALPHABET}]{{{RANDOM_CHARS + 1}}}$")
JOB = "issue_certificate"
QUEUE = "arq:certificates"  # a queue of its own (see workers/certificates.py)
MAX_TRIES = 5  # job tries (with backoff) before a failure waits for an admin
LEASE = dt.timedelta(minutes=5)  # a claimed row nobody finished is re-queued after this
STALE_QUEUED = dt.timedelta(minutes=2)  # a queued row this old may have lost its job
SWEEP_LIMIT = 500
PER_PAGE = 30
PHOTO_MESSAGE = "请先在“我的资料”上传照片，照片上传后证书将自动生成"
DONE = (CertificateState.ISSUED, CertificateState.REVOKED)

audit.ACTION_LABELS.update({"certificate.retry": "重新生成证书", "certificate.revoke": "撤销证书"})


class PhotoMissing(Exception):
    """The learner has not uploaded an ID photo: issuing waits for it."""


# ---------------------------------------------------------------------------- numbers


def check_char(body: str) -> str:
    """Luhn mod 32 check character: catches any one wrong character and most swaps."""
    total, factor = 0, 2
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return ALPHABET[-total % 32]


def make_number(year: int) -> str:
    """A fresh certificate number: the year, ten random characters, a check character."""
    body = f"{year:04d}" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return body + check_char(body)


def normalise_number(raw: str | None) -> str | None:
    """The canonical form of a typed number, or None when it cannot be one of ours."""
    value = re.sub(r"[\s\-]", "", raw or "").upper().translate(str.maketrans("OIL", "011"))
    if not NUMBER_SHAPE.match(value) or check_char(value[:-1]) != value[-1]:
        return None
    return value


def mask_name(name: str) -> str:
    """张三全 -> 张*全, 张三 -> 张*, 欧阳小明 -> 欧**明: enough to recognise, not to identify."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def certificate_dir(config: Config) -> Path:
    return config.data_dir / "certificates"


def file_path(config: Config, certificate: Certificate) -> Path:
    """Where the certificate's PDF is (or will be) stored."""
    return certificate_dir(config) / f"{certificate.number}.pdf"


def verify_url(config: Config, number: str) -> str:
    return f"{config.public_url.rstrip('/')}/verify/{number}"


def job_id(attempt_id: int, *, fresh: bool = False) -> str:
    """arq job id: one queued job per attempt, unless a person asks for a new try now."""
    suffix = f":{secrets.token_hex(4)}" if fresh else ""
    return f"certificate:{attempt_id}{suffix}"


# ---------------------------------------------------------------------------- issuing


async def get_by_attempt(*, session: AsyncSession, attempt_id: int) -> Certificate | None:
    """The certificate of an attempt, if it has one."""
    return await session.scalar(select(Certificate).where(Certificate.attempt_id == attempt_id))


async def request_certificate(
    *, session: AsyncSession, attempt: Attempt, now: dt.datetime
) -> Certificate:
    """The certificate row of a passed attempt, created (with its number) on first request."""
    if attempt.passed is not True:
        raise AppError("certificate_not_passed", "该次考试未合格，不能生成合格证书")
    existing = await get_by_attempt(session=session, attempt_id=attempt.id)
    if existing is not None:
        return existing
    certificate, _ = await _insert(session, attempt, now, rendering=False)
    return certificate


async def take_for_rendering(
    *, session: AsyncSession, attempt: Attempt, now: dt.datetime
) -> tuple[Certificate, bool]:
    """The attempt's certificate and whether this job now holds it for one rendering.

    A first request creates the row already claimed, saving the job a round trip."""
    if attempt.passed is not True:
        raise AppError("certificate_not_passed", "该次考试未合格，不能生成合格证书")
    certificate = await get_by_attempt(session=session, attempt_id=attempt.id)
    if certificate is None:
        certificate, created = await _insert(session, attempt, now, rendering=True)
        if created:
            return certificate, True
    if certificate.state in DONE:
        return certificate, False
    return certificate, await claim(session=session, certificate=certificate, now=now)


async def _insert(
    session: AsyncSession, attempt: Attempt, now: dt.datetime, *, rendering: bool
) -> tuple[Certificate, bool]:
    year = now.astimezone(SHANGHAI).year
    # On SQLite the transaction already holds the write lock, so no other job can insert
    # between our look and our insert; elsewhere a savepoint catches that race.
    guarded = session.bind.dialect.name != "sqlite"
    for _ in range(5):
        certificate = Certificate(
            number=make_number(year),
            attempt_id=attempt.id,
            user_id=attempt.user_id,
            batch_id=attempt.batch_id,
            state=CertificateState.RENDERING if rendering else CertificateState.QUEUED,
            tries=1 if rendering else 0,
            lease_until=now + LEASE if rendering else None,
            error="",
            requested_at=now,
            updated_at=now,
        )
        if not guarded:
            session.add(certificate)
            await session.flush()
            return certificate, True
        try:
            async with session.begin_nested():
                session.add(certificate)
            return certificate, True
        except IntegrityError:
            # Either a concurrent job created the row first and theirs is the one, or,
            # once in a blue moon, the random number was taken: draw again.
            existing = await get_by_attempt(session=session, attempt_id=attempt.id)
            if existing is not None:
                return existing, False
    raise RuntimeError("no free certificate number after 5 draws")


async def claim(*, session: AsyncSession, certificate: Certificate, now: dt.datetime) -> bool:
    """Take the row for one rendering; False when it is done or another job holds it."""
    result = await session.execute(
        update(Certificate)
        .where(
            Certificate.id == certificate.id,
            or_(
                Certificate.state.in_(
                    [
                        CertificateState.QUEUED,
                        CertificateState.FAILED,
                        CertificateState.NEEDS_PHOTO,
                    ]
                ),
                and_(
                    Certificate.state == CertificateState.RENDERING,
                    Certificate.lease_until < now,
                ),
            ),
        )
        .values(
            state=CertificateState.RENDERING,
            tries=Certificate.tries + 1,
            lease_until=now + LEASE,
            updated_at=now,
        )
        .returning(Certificate.tries)
        .execution_options(synchronize_session=False)
    )
    tries = result.scalar_one_or_none()
    if tries is None:
        return False
    certificate.state = CertificateState.RENDERING
    certificate.tries = tries
    certificate.lease_until = now + LEASE
    certificate.updated_at = now
    return True


async def credited_minutes(*, session: AsyncSession, user_id: int, batch: Batch) -> int:
    """Study minutes to print: those credited, and never less than the batch requires.

    Passing needed the batch's minutes, so a course edited or removed afterwards must not
    shrink a certificate earned before."""
    from app.learning.service import batch_progress

    progress = await batch_progress(session=session, user_id=user_id, batch_id=batch.id)
    return max(progress.credited_minutes, batch.required_minutes)


async def certificate_content(
    *, session: AsyncSession, certificate: Certificate, config: Config, now: dt.datetime
) -> tuple[render.CertificateContent, Path]:
    """What the certificate will say, and where the learner's photo is; PhotoMissing if none."""
    user = (
        await session.execute(
            select(User.name, User.gender, User.id_number, User.work_unit, User.photo_file).where(
                User.id == certificate.user_id
            )
        )
    ).one()
    if not user.photo_file:
        raise PhotoMissing()
    batch = await session.get(Batch, certificate.batch_id)
    attempt = await session.get(Attempt, certificate.attempt_id)
    content = render.CertificateContent(
        number=certificate.number,
        name=user.name,
        gender=user.gender,
        id_masked=idcard.mask(user.id_number),
        work_unit=user.work_unit,
        batch_name=batch.name,
        minutes=await credited_minutes(session=session, user_id=certificate.user_id, batch=batch),
        score=attempt.score or 0.0,
        issue_date=now.astimezone(SHANGHAI).date(),
        centre_name=config.centre_name,
        verify_url=verify_url(config, certificate.number),
    )
    return content, config.photo_dir / user.photo_file


def _still_mine(certificate_id: int, tries: int):
    # A job whose lease expired and was re-claimed (tries moved on) records nothing.
    return and_(
        Certificate.id == certificate_id,
        Certificate.state == CertificateState.RENDERING,
        Certificate.tries == tries,
    )


async def mark_needs_photo(
    *, session: AsyncSession, certificate: Certificate, now: dt.datetime
) -> None:
    """Park the certificate until the learner uploads a photo."""
    await session.execute(
        update(Certificate)
        .where(_still_mine(certificate.id, certificate.tries))
        .values(
            state=CertificateState.NEEDS_PHOTO,
            error=PHOTO_MESSAGE,
            lease_until=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


async def mark_issued(
    *,
    session: AsyncSession,
    certificate_id: int,
    tries: int,
    content: render.CertificateContent,
    file: str,
    now: dt.datetime,
    render_ms: int,
) -> bool:
    """Record the rendered certificate and what it says; False if the claim was lost."""
    result = await session.execute(
        update(Certificate)
        .where(_still_mine(certificate_id, tries))
        .values(
            state=CertificateState.ISSUED,
            file=file,
            error="",
            lease_until=None,
            holder_name=content.name,
            batch_name=content.batch_name,
            minutes=content.minutes,
            score=content.score,
            render_ms=render_ms,
            issued_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def mark_failed(
    *, session: AsyncSession, certificate_id: int, tries: int, error: str, now: dt.datetime
) -> None:
    """Record why this try failed (shown to admins)."""
    await session.execute(
        update(Certificate)
        .where(_still_mine(certificate_id, tries))
        .values(state=CertificateState.FAILED, error=error[:2000], lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def sweep(*, session: AsyncSession, now: dt.datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Attempts whose certificate job may have been lost; their jobs should be queued again.

    Passed attempts without a certificate, rows queued for a while, rows whose rendering
    lease ran out, and rows waiting for a photo that has since been uploaded (these are
    set back to queued here)."""
    no_row = select(Attempt.id).where(
        Attempt.passed.is_(True),
        ~exists().where(Certificate.attempt_id == Attempt.id),
    )
    ids = list(await session.scalars(no_row.order_by(Attempt.id).limit(limit)))
    photo_ready = list(
        await session.scalars(
            select(Certificate.id)
            .join(User, User.id == Certificate.user_id)
            .where(Certificate.state == CertificateState.NEEDS_PHOTO, User.photo_file.is_not(None))
            .limit(limit)
        )
    )
    if photo_ready:
        await session.execute(
            update(Certificate)
            .where(
                Certificate.id.in_(photo_ready),
                Certificate.state == CertificateState.NEEDS_PHOTO,
            )
            .values(state=CertificateState.QUEUED, error="", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    lost = select(Certificate.attempt_id).where(
        or_(
            Certificate.id.in_(photo_ready),
            and_(
                Certificate.state == CertificateState.QUEUED,
                Certificate.updated_at < now - STALE_QUEUED,
            ),
            and_(
                Certificate.state == CertificateState.RENDERING,
                Certificate.lease_until < now,
            ),
        )
    )
    ids += list(await session.scalars(lost.order_by(Certificate.id).limit(limit)))
    return ids


# ---------------------------------------------------------------------------- learner


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
    *, session: AsyncSession, user: User, attempt_id: int, now: dt.datetime
) -> Certificate:
    """The learner asks again, e.g. after uploading the photo; the caller queues the job."""
    attempt = await session.get(Attempt, attempt_id)
    if attempt is None or attempt.user_id != user.id or attempt.passed is not True:
        raise NotFound("证书不存在")
    certificate = await request_certificate(session=session, attempt=attempt, now=now)
    if certificate.state in DONE:
        raise AppError("certificate_done", "证书已生成，无需重新生成", 409)
    if certificate.state == CertificateState.NEEDS_PHOTO:
        if not user.photo_file:
            raise AppError("photo_missing", PHOTO_MESSAGE, 409)
        certificate.state = CertificateState.QUEUED
        certificate.error = ""
        certificate.updated_at = now
        await session.flush()
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


async def admin_counts(*, session: AsyncSession) -> dict[str, int]:
    """How many certificates each admin filter shows."""
    rows = dict(
        (await session.execute(select(Certificate.state, func.count()).group_by(Certificate.state)))
        .tuples()
        .all()
    )
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
    """Put a failed or stuck certificate back in the queue (admin); the caller queues the job."""
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
    return certificate


async def retry_failed(*, session: AsyncSession, now: dt.datetime) -> list[int]:
    """Every failed certificate back in the queue (the retry-certificates command)."""
    rows = list(
        await session.scalars(
            select(Certificate).where(Certificate.state == CertificateState.FAILED)
        )
    )
    for certificate in rows:
        await retry(session=session, certificate_id=certificate.id, now=now, actor_id=None)
    return [c.attempt_id for c in rows]


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
    certificate.state = CertificateState.REVOKED
    certificate.revoked_at = now
    certificate.revoked_by = actor_id
    certificate.revoke_reason = reason
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
    return certificate


# ---------------------------------------------------------------------------- queueing


async def queue_certificates(svc, attempt_ids: Iterable[int], *, fresh: bool = False) -> int:
    """Queue the issuing job of each (passed) attempt; never raises. Returns how many queued.

    Call it after the transaction that graded the attempts has committed. Without
    ``fresh``, an attempt whose job is already waiting is not queued twice. If Redis is
    unreachable the error is logged and the per-minute sweep queues the job later."""
    queued = 0
    for attempt_id in attempt_ids:
        try:
            job = await svc.enqueue(
                JOB, attempt_id, _job_id=job_id(attempt_id, fresh=fresh), _queue_name=QUEUE
            )
        except Exception:
            log.exception("could not queue the certificate of attempt %s", attempt_id)
            continue
        queued += job is not None
    return queued


async def queue_certificate(svc, attempt_id: int, *, fresh: bool = False) -> bool:
    """Queue the certificate job of one passed attempt (see queue_certificates)."""
    return await queue_certificates(svc, [attempt_id], fresh=fresh) == 1
