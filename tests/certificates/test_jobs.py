"""The issuing job: idempotent, retried with backoff, waiting for a photo, never lost."""

import asyncio
import datetime as dt
import io

import pypdf
import pytest
from arq import Retry

from app.certificates import issuing, numbers
from app.certificates.models import CertificateState
from tests.certificates.conftest import wait_certificate_jobs_done
from workers.certificates import issue_certificate, sweep_certificates


def ctx(svc, job_try=1):
    return {"svc": svc, "job_try": job_try}


async def test_issue__renders_the_certificate_and_records_what_it_says(svc, certs):
    user, attempt = await certs.passed()
    assert await issue_certificate(ctx(svc), attempt.id) == CertificateState.ISSUED
    (certificate,) = await certs.all()
    assert certificate.state == CertificateState.ISSUED
    assert numbers.normalise_number(certificate.number) == certificate.number
    assert certificate.number.startswith("2026")
    assert (certificate.holder_name, certificate.minutes, certificate.score) == (
        "张安全",
        1920,
        86.5,
    )
    assert certificate.issued_at == svc.now() and certificate.tries == 1
    assert certificate.render_ms > 0
    pdf = issuing.file_path(svc.config, certificate).read_bytes()
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "张安全" in text and certificate.number in text
    assert f"http://127.0.0.1:8000/verify/{certificate.number}" in text


async def test_issue__two_queued_jobs_make_one_certificate(svc, certs, worker):
    _, attempt = await certs.passed()
    # Two distinct jobs (a retry button pressed while the first is queued, say).
    assert await issuing.queue_certificates(svc, [attempt.id]) == 1
    assert await issuing.queue_certificates(svc, [attempt.id], fresh=True) == 1
    certificate = await certs.wait_for(attempt.id, CertificateState.ISSUED)
    await wait_certificate_jobs_done(svc.redis)  # the second job has run too
    assert [c.number for c in await certs.all()] == [certificate.number]
    assert (await certs.certificate(attempt.id)).tries == 1
    files = list(issuing.certificate_dir(svc.config).iterdir())
    assert [f.name for f in files] == [f"{certificate.number}.pdf"]


async def test_issue__concurrent_duplicates_render_once(svc, certs):
    _, attempt = await certs.passed()
    results = await asyncio.gather(*(issue_certificate(ctx(svc), attempt.id) for _ in range(3)))
    assert CertificateState.ISSUED in results and set(results) <= {"issued", "busy"}
    (certificate,) = await certs.all()
    assert certificate.tries == 1  # rendered once; the others found it claimed or done
    assert len(list(issuing.certificate_dir(svc.config).iterdir())) == 1


async def test_queue_certificate__a_waiting_job_is_not_queued_twice(svc, certs):
    _, attempt = await certs.passed()
    assert await issuing.queue_certificates(svc, [attempt.id]) == 1
    assert await issuing.queue_certificates(svc, [attempt.id]) == 0
    assert await issuing.queue_certificates(svc, [attempt.id, attempt.id]) == 0


async def test_issue__failed_attempt_gets_no_certificate(svc, certs):
    user = await certs.learner()
    attempt = await certs.attempt(user, passed=False, score=40)
    assert await issue_certificate(ctx(svc), attempt.id) == "not_passed"
    assert await issue_certificate(ctx(svc), 999_999) == "not_passed"
    assert await certs.all() == []


async def test_issue__without_photo_waits_and_tells_the_learner(svc, certs):
    user = await certs.learner(photo=False)
    attempt = await certs.attempt(user)
    assert await issue_certificate(ctx(svc), attempt.id) == CertificateState.NEEDS_PHOTO
    certificate = await certs.certificate(attempt.id)
    assert certificate.state == CertificateState.NEEDS_PHOTO
    assert "请先在“我的资料”上传照片" in certificate.error
    assert not issuing.certificate_dir(svc.config).exists()
    # Asking again changes nothing until the photo is there.
    assert await issue_certificate(ctx(svc), attempt.id) == CertificateState.NEEDS_PHOTO
    number = certificate.number

    await certs.upload_photo(user)
    assert await sweep_certificates(ctx(svc)) == 1
    assert (await certs.certificate(attempt.id)).state == CertificateState.QUEUED
    assert await issue_certificate(ctx(svc), attempt.id) == CertificateState.ISSUED
    assert (await certs.certificate(attempt.id)).number == number


async def test_issue__unreadable_photo_fails_and_a_retry_succeeds_once_fixed(svc, certs, worker):
    svc.config.certificate_retry_seconds = 0.3
    user, attempt = await certs.passed()
    photo = svc.config.photo_dir / user.photo_file
    kept = photo.read_bytes()
    photo.unlink()  # e.g. a storage volume not mounted yet
    await issuing.queue_certificates(svc, [attempt.id])
    failed = await certs.wait_for(attempt.id, CertificateState.FAILED)
    assert "照片文件缺失或无法读取" in failed.error
    assert failed.tries == 1
    photo.write_bytes(kept)
    issued = await certs.wait_for(attempt.id, CertificateState.ISSUED)
    assert issued.tries == 2 and issued.error == "" and issued.number == failed.number


async def test_issue__retries_with_doubling_backoff_then_gives_up(svc, certs):
    user, attempt = await certs.passed()
    (svc.config.photo_dir / user.photo_file).write_bytes(b"not a photo any more")
    for job_try, delay in ((1, 30), (2, 60), (4, 240)):
        with pytest.raises(Retry) as raised:
            await issue_certificate(ctx(svc, job_try), attempt.id)
        assert raised.value.defer_score == delay * 1000
    assert await issue_certificate(ctx(svc, issuing.MAX_TRIES), attempt.id) == "failed"
    certificate = await certs.certificate(attempt.id)
    assert certificate.state == CertificateState.FAILED and certificate.tries == 4
    assert "照片文件无法读取" in certificate.error


async def test_sweep__queues_passed_attempts_never_queued_and_lost_jobs(svc, certs, clock):
    _, never = await certs.passed()
    _, stuck = await certs.passed()
    _, done = await certs.passed()
    user = await certs.learner()
    await certs.attempt(user, passed=False, score=12)
    async with svc.db.write() as db:
        for attempt in (stuck, done):
            await issuing.request_certificate(session=db, attempt=attempt, now=svc.now())
    await issue_certificate(ctx(svc), done.id)
    async with svc.db.read() as db:
        assert await issuing.sweep(session=db, now=svc.now()) == [never.id]
    clock.advance(minutes=3)  # the job for `stuck` was lost
    async with svc.db.read() as db:
        assert sorted(await issuing.sweep(session=db, now=svc.now())) == [never.id, stuck.id]
    assert await svc.redis.zcard(issuing.QUEUE) == 0
    assert await sweep_certificates(ctx(svc)) == 2
    assert await svc.redis.zcard(issuing.QUEUE) == 2  # queued once its unit committed
    assert await sweep_certificates(ctx(svc)) == 2
    assert await svc.redis.zcard(issuing.QUEUE) == 2  # both jobs were already waiting


async def test_sweep__rendering_whose_lease_ran_out_is_taken_over(svc, certs, clock):
    _, attempt = await certs.passed()
    async with svc.db.write() as db:
        certificate = await issuing.request_certificate(session=db, attempt=attempt, now=svc.now())
        assert await issuing.claim(session=db, certificate=certificate, now=svc.now())
    # The worker that claimed it died; another job cannot take it while the lease runs...
    assert await issue_certificate(ctx(svc), attempt.id) == "busy"
    clock.advance(minutes=6)
    async with svc.db.read() as db:
        assert await issuing.sweep(session=db, now=svc.now()) == [attempt.id]
    # ...and can once it ran out; the dead worker's late result would then be ignored.
    assert await issue_certificate(ctx(svc), attempt.id) == CertificateState.ISSUED
    async with svc.db.write() as db:
        content, _ = await issuing.certificate_content(
            session=db, certificate=certificate, config=svc.config, now=svc.now()
        )
        assert not await issuing.mark_issued(
            session=db,
            certificate_id=certificate.id,
            tries=1,
            content=content,
            file="late.pdf",
            now=svc.now(),
            render_ms=1,
        )
    assert (await certs.certificate(attempt.id)).tries == 2


async def test_request_certificate__keeps_one_row_and_number_per_attempt(svc, certs):
    _, attempt = await certs.passed()
    async with svc.db.write() as db:
        first = await issuing.request_certificate(session=db, attempt=attempt, now=svc.now())
    async with svc.db.write() as db:
        again = await issuing.request_certificate(
            session=db, attempt=attempt, now=svc.now() + dt.timedelta(days=400)
        )
    assert (again.id, again.number) == (first.id, first.number)
