"""Certificate jobs are queued once the unit of work that made them due has committed:
an attempt passed (``AttemptClosed`` from the exam area), a learner or an admin asked
again, or the sweep found a job that was lost (``CertificateDue``)."""

from __future__ import annotations

from app import events
from app.certificates.issuing import CertificateDue, queue_certificates
from app.exams.events import AttemptClosed


@events.handles(AttemptClosed)
async def queue_passed(svc, closed: list[AttemptClosed]) -> None:
    """Every passed attempt gets its certificate job."""
    await queue_certificates(svc, [c.result.attempt_id for c in closed if c.result.passed])


@events.handles(CertificateDue)
async def queue_due(svc, due: list[CertificateDue]) -> None:
    """Queue the due jobs; a person's request is a fresh try even if one is waiting."""
    await queue_certificates(svc, [d.attempt_id for d in due if d.fresh], fresh=True)
    await queue_certificates(svc, [d.attempt_id for d in due if not d.fresh])
