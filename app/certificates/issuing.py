"""Issuing certificates: the job's state machine, the sweep that loses none, queueing.

A passed attempt gets exactly one certificate row (attempt_id is unique) and so exactly one
number, however often its job is queued, retried or duplicated. A job *claims* the row
(creates it claimed, or moves it queued/failed/needs_photo -> rendering with a lease in one
conditional UPDATE), renders outside any transaction, then records the outcome only if its
claim still stands.

Jobs are queued after the commit that made them due (``app/certificates/events.py``: an
attempt passed, a person asked again); a per-minute sweep catches whatever was never queued.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.accounts import idcard
from app.accounts.models import User
from app.certificates import render
from app.certificates.models import DONE, Certificate, CertificateState
from app.certificates.numbers import make_number
from app.clock import SHANGHAI
from app.config import Config
from app.errors import AppError
from app.exams.models import Attempt
from app.learning import service as learning
from app.learning.models import Batch

log = logging.getLogger("safece.certificates")

JOB = "issue_certificate"
QUEUE = "arq:certificates"  # a queue of its own (see workers/certificates.py)
MAX_TRIES = 5  # job tries (with backoff) before a failure waits for an admin
LEASE = dt.timedelta(minutes=5)  # a claimed row nobody finished is re-queued after this
STALE_QUEUED = dt.timedelta(minutes=2)  # a queued row this old may have lost its job
SWEEP_LIMIT = 500
PHOTO_MESSAGE = "请先在“我的资料”上传照片，照片上传后证书将自动生成"


class PhotoMissing(Exception):
    """The learner has not uploaded an ID photo: issuing waits for it."""


@dataclasses.dataclass(frozen=True)
class CertificateDue:
    """A certificate job should run (after the commit that made it due)."""

    attempt_id: int
    fresh: bool = False  # a person asked: queue a new try even if one is waiting


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


async def get_by_attempt(*, session: AsyncSession, attempt_id: int) -> Certificate | None:
    """The certificate of an attempt, if it has one."""
    return await session.scalar(select(Certificate).where(Certificate.attempt_id == attempt_id))


async def passed_attempt(*, session: AsyncSession, attempt_id: int) -> Attempt | None:
    """The attempt a certificate job was queued for, if it exists and passed."""
    attempt = await session.get(Attempt, attempt_id)
    return attempt if attempt is not None and attempt.passed is True else None


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
    *, session: AsyncSession, attempt: Attempt, now: dt.datetime, lease: dt.timedelta = LEASE
) -> tuple[Certificate, bool]:
    """The attempt's certificate and whether this job now holds it for one rendering
    (for ``lease``, after which another job may take it over).

    A first request creates the row already claimed, saving the job a round trip."""
    if attempt.passed is not True:
        raise AppError("certificate_not_passed", "该次考试未合格，不能生成合格证书")
    certificate = await get_by_attempt(session=session, attempt_id=attempt.id)
    if certificate is None:
        certificate, created = await _insert(session, attempt, now, rendering=True, lease=lease)
        if created:
            return certificate, True
    if certificate.state in DONE:
        return certificate, False
    return certificate, await claim(session=session, certificate=certificate, now=now, lease=lease)


async def _insert(
    session: AsyncSession,
    attempt: Attempt,
    now: dt.datetime,
    *,
    rendering: bool,
    lease: dt.timedelta = LEASE,
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
            lease_until=now + lease if rendering else None,
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


async def claim(
    *,
    session: AsyncSession,
    certificate: Certificate,
    now: dt.datetime,
    lease: dt.timedelta = LEASE,
) -> bool:
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
            lease_until=now + lease,
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
    certificate.lease_until = now + lease
    certificate.updated_at = now
    return True


async def credited_minutes(*, session: AsyncSession, user_id: int, batch: Batch) -> int:
    """Study minutes to print: those credited, and never less than the batch requires.

    Passing needed the batch's minutes, so a course edited or removed afterwards must not
    shrink a certificate earned before."""
    progress = await learning.batch_progress(session=session, user_id=user_id, batch_id=batch.id)
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


async def release(
    *, session: AsyncSession, certificate_id: int, tries: int, now: dt.datetime
) -> None:
    """Give back a claim whose job was stopped mid-render, so its next try takes it at once."""
    await session.execute(
        update(Certificate)
        .where(_still_mine(certificate_id, tries))
        .values(state=CertificateState.QUEUED, lease_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )


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
    """Queue again (on commit) the jobs that may have been lost; returns their attempt ids.

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
    for attempt_id in ids:
        events.record(session, CertificateDue(attempt_id))
    return ids


async def queue_certificates(svc, attempt_ids: Iterable[int], *, fresh: bool = False) -> int:
    """Queue the issuing job of each (passed) attempt; never raises. Returns how many queued.

    Runs after the transaction that made them due committed (see events.py). Without
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
