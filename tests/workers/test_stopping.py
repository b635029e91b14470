"""Stopping a worker whatever it is doing: a deadline sweep, a certificate, arq's bookkeeping.

arq's own stop cancelled each job's runner; one cancelled while it recorded a finished job
in Redis made ``Worker.close`` raise ``CancelledError``, skip the shutdown hook and leave
the certificate worker polling the queue of the tests that came next. These stop workers
at each of those moments, again and again, in the one event loop the suite shares.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

from app.certificates import issuing
from app.certificates.models import CertificateState
from app.exams.statuses import AttemptStatus
from tests.certificates.conftest import Certs
from tests.exams.conftest import Exams
from workers import base
from workers import certificates as certificate_jobs
from workers.settings import build_worker

TIMEOUT = 30  # seconds: a guard against hanging, never expected to be reached


class Moments:
    """arq's job hooks as events: a job (with that id, if given) has started, a job's
    outcome is being recorded."""

    def __init__(self, job_id: str | None = None) -> None:
        self.job_id = job_id
        self.started = asyncio.Event()
        self.ended = asyncio.Event()

    async def job_started(self, ctx: dict) -> None:
        if self.job_id in (None, ctx["job_id"]):
            self.started.set()

    async def job_ended(self, ctx: dict) -> None:
        # arq awaits this hook, then writes the job's outcome to Redis (shielded).
        if self.job_id in (None, ctx["job_id"]):
            self.ended.set()

    def hook(self, worker) -> None:
        worker.on_job_start = self.job_started
        worker.on_job_end = self.job_ended


async def until(predicate, what: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not await predicate():
            await asyncio.sleep(0.01)


async def started_worker(config):
    worker = build_worker(config, handle_signals=False, poll_delay=0.05)
    return worker, base.start(worker)


async def stop_cleanly(worker, task) -> None:
    """Stop the worker and check that it returned and left nothing running."""
    await base.stop(worker, task)
    assert task.done()
    assert "certificate_worker" not in worker.ctx and not worker.tasks and not worker.job_tasks


async def test_stop__during_a_deadline_sweep_returns_cleanly_every_time(
    svc, factory, config, clock
):
    exams = Exams(svc, factory)
    batch = await exams.batch()
    attempt = await exams.start(await exams.eligible(batch), batch)
    # Every sweep now waits for this deadline, 0.3 s ahead on the frozen clock.
    clock.set(attempt.deadline - dt.timedelta(seconds=0.3))
    before = asyncio.all_tasks()
    for _ in range(3):
        for phase in ("starting", "midway", "finishing"):
            moments = Moments()
            worker, task = await started_worker(config)
            moments.hook(worker)
            async with asyncio.timeout(TIMEOUT):
                if phase == "finishing":
                    await moments.ended.wait()
                else:
                    await moments.started.wait()
                    if phase == "midway":
                        await asyncio.sleep(0.05)  # inside the sweep: reading, or waiting
            await stop_cleanly(worker, task)
    assert asyncio.all_tasks() - before == set()  # no task left behind
    assert (await exams.reload(attempt)).status == AttemptStatus.OPEN
    # The database is free: a write goes through at once.
    clock.set(attempt.deadline)
    from workers.exams import sweep_exam_deadlines

    async with asyncio.timeout(5):
        assert await sweep_exam_deadlines({"svc": svc}, lookahead=0) == 1


async def test_stop__during_a_certificate_job_gives_it_back_for_the_next_worker(
    svc, factory, config
):
    certs = Certs(svc, factory)
    before = asyncio.all_tasks()
    attempts = {}
    for _ in range(2):
        for phase in ("starting", "rendering", "finishing"):
            _, attempt = await certs.passed()
            attempts[attempt.id] = phase
            # The moments of this attempt's job (not of a sweep or another job).
            moments = Moments(issuing.job_id(attempt.id))
            worker, task = await started_worker(config)
            await until(lambda w=worker: _async("certificate_worker" in w.ctx), "startup")
            moments.hook(worker.ctx["certificate_worker"])
            # In the rendering phase the render thread is kept busy, so that the job is
            # surely waiting for its drawing when the worker stops.
            gate = threading.Event()
            if phase == "rendering":
                blocker = certificate_jobs._render_thread().submit(gate.wait)
            try:
                assert await issuing.queue_certificates(svc, [attempt.id]) == 1
                async with asyncio.timeout(TIMEOUT):
                    if phase == "finishing":
                        await moments.ended.wait()
                    else:
                        await moments.started.wait()
                if phase == "rendering":
                    await until(lambda a=attempt: _rendering(certs, a.id), "the claim")
                await stop_cleanly(worker, task)
            finally:
                gate.set()
            if phase == "rendering":
                blocker.result()
            certificate = await certs.certificate(attempt.id)
            # Whenever it stopped, the row is never left leased to the stopped job.
            assert certificate is None or certificate.state in ("queued", "issued")
            if phase == "rendering":
                assert certificate.state == CertificateState.QUEUED  # given back
            elif phase == "finishing":
                assert certificate.state == CertificateState.ISSUED
            # A stopped job is still queued: the next worker renders it at once (the frozen
            # clock never lets a lease run out, so it cannot be waiting for one).
            worker, task = await started_worker(config)
            try:
                await certs.wait_for(attempt.id, CertificateState.ISSUED, timeout=TIMEOUT)
            finally:
                await stop_cleanly(worker, task)
    assert asyncio.all_tasks() - before == set()  # no task left behind
    numbers = [c.number for c in await certs.all()]
    assert len(numbers) == len(set(numbers)) == len(attempts)


async def test_after_the_stops__the_worker_fixture_serves_both_queues(svc, factory, clock, worker):
    """The test after the stopping ones: no stale worker steals its jobs, the loop is fine."""
    certs = Certs(svc, factory)
    _, passed = await certs.passed()
    exams = Exams(svc, factory)
    batch = await exams.batch()
    attempt = await exams.start(await exams.eligible(batch), batch)
    clock.set(attempt.deadline)
    assert await issuing.queue_certificates(svc, [passed.id]) == 1
    await certs.wait_for(passed.id, CertificateState.ISSUED, timeout=TIMEOUT)
    await until(lambda: _closed(exams, attempt), "the cron sweep")


async def _async(value):
    return value


async def _rendering(certs, attempt_id) -> bool:
    certificate = await certs.certificate(attempt_id)
    return certificate is not None and certificate.state == CertificateState.RENDERING


async def _closed(exams, attempt) -> bool:
    return (await exams.reload(attempt)).status == AttemptStatus.CLOSED
