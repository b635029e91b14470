"""Certificate jobs are queued once the unit of work that made them due has committed:
an attempt passed (``AttemptClosed`` from the exam area), a learner or an admin asked
again, or the sweep found a job that was lost (``CertificateDue``). An attempt voided by
an invigilator (``AttemptVoided``) gets its certificate revoked."""

from __future__ import annotations

from app import events
from app.certificates import service
from app.certificates.issuing import CertificateDue, queue_certificates
from app.exams.events import AttemptClosed, AttemptVoided


@events.handles(AttemptClosed)
async def queue_passed(svc, closed: list[AttemptClosed]) -> None:
    """Every passed attempt gets its certificate job."""
    await queue_certificates(svc, [c.result.attempt_id for c in closed if c.result.passed])


@events.handles(CertificateDue)
async def queue_due(svc, due: list[CertificateDue]) -> None:
    """Queue the due jobs; a person's request is a fresh try even if one is waiting."""
    await queue_certificates(svc, [d.attempt_id for d in due if d.fresh], fresh=True)
    await queue_certificates(svc, [d.attempt_id for d in due if not d.fresh])


@events.handles(AttemptVoided)
async def revoke_voided(svc, voided: list[AttemptVoided]) -> None:
    """A voided attempt's certificate is revoked (the void itself is already committed)."""
    async with svc.db.write() as db:
        for v in voided:
            await service.revoke_voided(
                session=db,
                attempt_id=v.attempt_id,
                reason=v.reason,
                now=svc.now(),
                actor_id=v.actor_id,
            )
