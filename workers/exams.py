"""The exam-deadline sweeper: the server submits every paper whose time is up.

It is driven by the deadlines in the database, not by timers in memory, so it keeps
working when a process restarts and whichever worker runs it. It runs every second (arq
cron, one run per tick across all workers) and, when a deadline falls before the next
tick, waits for it, so papers are graded well within two seconds of their deadline.
Closing is a conditional UPDATE per attempt, so overlapping runs, several workers and the
web processes' own opportunistic submits never submit a paper twice.
"""

from __future__ import annotations

import asyncio

from arq import cron

from app.exams import attempts, grading

LOOKAHEAD_SECONDS = 1.2


async def _sweep_due(ctx: dict) -> int:
    svc = ctx["svc"]
    done = 0
    while True:
        async with svc.db.read() as db:
            # Checked without the write lock: almost every tick finds nothing to do.
            due = await attempts.next_deadline(session=db)
        if due is None or due > svc.now():
            return done
        # One unit of work per chunk; each chunk's pages are told once it has committed.
        async with svc.db.write() as db:
            results = await grading.sweep(session=db, now=svc.now())
        done += len(results)
        if len(results) < grading.SWEEP_CHUNK:
            return done


async def sweep_exam_deadlines(ctx: dict, lookahead: float = LOOKAHEAD_SECONDS) -> int:
    """Submit every open attempt past its deadline; return how many were submitted."""
    svc = ctx["svc"]
    closed = await _sweep_due(ctx)
    if lookahead > 0:
        async with svc.db.read() as db:
            upcoming = await attempts.next_deadline(session=db)
        if upcoming is not None:
            wait = (upcoming - svc.now()).total_seconds()
            if 0 < wait <= lookahead:
                await asyncio.sleep(wait + 0.01)
                closed += await _sweep_due(ctx)
    return closed


CRON_JOBS = [
    cron(
        sweep_exam_deadlines,
        second=set(range(60)),
        microsecond=0,
        run_at_startup=True,
        timeout=60,
        keep_result=0,
    )
]
