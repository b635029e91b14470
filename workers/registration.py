"""Registration reminders: the renewal window opening, 90 and 30 days before expiry, and
expiry, posted to applicants' notice boards within a minute of falling due (the applicant's
own pages post theirs at once when read).

arq runs a cron job once per tick across all workers, and every notice carries a unique
key, so a second worker, a page or a rerun posts nothing twice. The scan is read-only and
bounded to the registrations near their end; a write happens only when something is due."""

from __future__ import annotations

import logging

from arq import cron

from app.registration import reminders

log = logging.getLogger("safece.registration")


async def send_registration_reminders(ctx: dict) -> int:
    """Post the reminders due now; returns how many were posted."""
    svc = ctx["svc"]
    async with svc.db.read() as db:
        dues = await reminders.due_all(session=db, now=svc.now())
    if not dues:
        return 0
    async with svc.db.write() as db:
        posted = await reminders.post(session=db, now=svc.now(), dues=dues)
    if posted:
        log.info("registration reminders: %d posted", posted)
    return posted


CRON_JOBS = [
    # Every minute (at second 20), and at start-up: a notice falls due at local midnight.
    cron(
        send_registration_reminders,
        second=20,
        microsecond=0,
        run_at_startup=True,
        timeout=300,
        keep_result=0,
    ),
]
