"""Registration reminders: the renewal window opening (90 and 30 days ahead, and when it
opens) and expiry, posted to applicants' notice boards once a day.

arq runs a cron job once per tick across all workers, and every notice carries a unique
key, so a second worker or a rerun posts nothing twice."""

from __future__ import annotations

import logging

from arq import cron

from app.registration import notices

log = logging.getLogger("safece.registration")


async def send_registration_reminders(ctx: dict) -> int:
    """Post the reminders due today; returns how many were posted."""
    svc = ctx["svc"]
    async with svc.db.write() as db:
        posted = await notices.send_reminders(session=db, now=svc.now())
    if posted:
        log.info("registration reminders: %d posted", posted)
    return posted


CRON_JOBS = [
    # 08:05 Shanghai (00:05 UTC) every day, and at start-up so a restarted worker catches up.
    cron(
        send_registration_reminders,
        hour=0,
        minute=5,
        second=0,
        microsecond=0,
        run_at_startup=True,
        timeout=600,
        keep_result=0,
    ),
]
