"""Certificate jobs: issue one certificate, and the per-minute sweep that loses none.

Certificate jobs have a queue of their own, served by a second arq worker that every
``python -m app worker`` process runs beside the main one: a thousand certificates queued
at once after a mass exam deadline must not hold up the exam sweeper or SMS behind them.

``issue_certificate`` may run twice for one attempt (a duplicate, a retry, a sweep): the
claim in the database lets one of them render and turns the others into no-ops, so an
attempt never gets two certificates or two numbers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import time
import weakref

from arq import Retry, cron
from arq.connections import RedisSettings
from arq.worker import func

from app.certificates import issuing, render
from app.certificates.states import DONE, CertificateState
from workers import base

log = logging.getLogger("safece.certificates")

_executor: concurrent.futures.ThreadPoolExecutor | None = None
_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _render_thread() -> concurrent.futures.ThreadPoolExecutor:
    # Off the event loop, so that the worker's other jobs and its Redis health checks run
    # while a PDF is drawn; one thread, as xhtml2pdf renders one document at a time.
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="certificate")
    return _executor


def _describe(error: BaseException) -> str:
    if isinstance(error, render.RenderError):
        return str(error)
    return f"{type(error).__name__}: {error}"


async def issue_certificate(ctx: dict, attempt_id: int) -> str:
    """Render and store the certificate of a passed attempt; returns the state it left."""
    # One certificate at a time per worker process. Interleaving them gains nothing (the
    # render holds the GIL and xhtml2pdf's own lock) and costs a lot: on SQLite the jobs'
    # transactions queue for the write lock behind each other, and their database work
    # fights the render thread for the GIL. The worker's other jobs still run meanwhile.
    # (arq hands each job its own copy of ctx, so the lock is kept per event loop here.)
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    async with _locks[loop]:
        return await _issue(ctx, attempt_id)


async def _issue(ctx: dict, attempt_id: int) -> str:
    svc = ctx["svc"]
    job_try = ctx.get("job_try", 1)
    started = time.perf_counter()
    now = svc.now()
    claimed = None
    try:
        async with svc.db.write() as db:
            attempt = await issuing.passed_attempt(session=db, attempt_id=attempt_id)
            if attempt is None:
                return "not_passed"
            certificate, mine = await issuing.take_for_rendering(
                session=db,
                attempt=attempt,
                now=now,
                lease=dt.timedelta(seconds=svc.config.certificate_lease_seconds),
            )
            if not mine:
                return certificate.state if certificate.state in DONE else "busy"
            claimed = certificate
            try:
                content, photo_path = await issuing.certificate_content(
                    session=db, certificate=certificate, config=svc.config, now=now
                )
            except issuing.PhotoMissing:
                await issuing.mark_needs_photo(session=db, certificate=certificate, now=now)
                return CertificateState.NEEDS_PHOTO
        return await _render(svc, certificate, content, photo_path, job_try, started, now)
    except asyncio.CancelledError:
        # The worker is stopping and arq will run this job again: give the row back so
        # that the next try renders it at once instead of waiting out the lease. The claim
        # may have committed even if the cancel came while the transaction ended; if it
        # did not, or the certificate was recorded meanwhile, the row is not ours to give.
        if claimed is not None:
            async with svc.db.write() as db:
                await issuing.release(
                    session=db, certificate_id=claimed.id, tries=claimed.tries, now=svc.now()
                )
        raise


async def _render(svc, certificate, content, photo_path, job_try: int, started, now) -> str:
    """Draw the claimed certificate off the event loop and record the outcome."""
    dest = issuing.file_path(svc.config, certificate)
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(
            _render_thread(), render.write_certificate, content, photo_path, dest
        )
    except Exception as error:
        message = _describe(error)
        log.warning("certificate %s try %s failed: %s", certificate.number, job_try, message)
        async with svc.db.write() as db:
            await issuing.mark_failed(
                session=db,
                certificate_id=certificate.id,
                tries=certificate.tries,
                error=message,
                now=svc.now(),
            )
        if job_try < issuing.MAX_TRIES:
            raise Retry(defer=svc.config.certificate_retry_seconds * 2 ** (job_try - 1)) from None
        return CertificateState.FAILED
    async with svc.db.write() as db:
        elapsed = time.perf_counter() - started
        issued = await issuing.mark_issued(
            session=db,
            certificate_id=certificate.id,
            tries=certificate.tries,
            content=content,
            file=dest.name,
            now=now,
            render_ms=round(elapsed * 1000),
        )
    return CertificateState.ISSUED if issued else "busy"


async def sweep_certificates(ctx: dict) -> int:
    """Every minute: queue the certificate jobs that were never queued or got lost."""
    svc = ctx["svc"]
    async with svc.db.write() as db:
        attempt_ids = await issuing.sweep(session=db, now=svc.now())
    if attempt_ids:
        log.info("sweep: queued %d certificate jobs", len(attempt_ids))
    return len(attempt_ids)


CRON_JOBS = [
    # Once a minute, off the top of the minute where other periodic jobs cluster.
    cron(sweep_certificates, second=17, microsecond=0, timeout=120, keep_result=0),
]
FUNCTIONS = [func(issue_certificate, keep_result=0, max_tries=issuing.MAX_TRIES)]


def build_certificate_worker(svc) -> base.Worker:
    """The arq worker of the certificate queue, sharing the process's Services."""
    return base.Worker(
        functions=FUNCTIONS,
        queue_name=issuing.QUEUE,
        redis_settings=RedisSettings.from_dsn(svc.config.redis_url),
        ctx={"svc": svc},
        handle_signals=False,
        # Renders run one at a time per process (see issue_certificate); a few jobs in
        # hand and a short poll keep the next one ready without hoarding the queue.
        max_jobs=4,
        poll_delay=0.05,
        job_timeout=svc.config.certificate_job_seconds,
        keep_result=0,
    )


async def start_certificate_worker(ctx: dict) -> None:
    """Start serving the certificate queue in this process (from the main worker's startup)."""
    worker = build_certificate_worker(ctx["svc"])
    ctx["certificate_worker"] = worker
    ctx["certificate_worker_task"] = base.start(worker)


async def stop_certificate_worker(ctx: dict) -> None:
    """Stop it again (from the main worker's shutdown), before the Services close."""
    worker = ctx.pop("certificate_worker", None)
    task = ctx.pop("certificate_worker_task", None)
    if worker is not None:
        # A job in hand is cancelled and run again later; its lease on the certificate
        # row lets the next try take the row over.
        await base.stop(worker, task)
