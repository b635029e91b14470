"""Certificate pages: the learner's list and downloads, public verification, admin actions."""

import re

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.certificates import issuing, service
from app.certificates.models import CertificateState
from tests.factories import csrf_of, login
from workers.certificates import issue_certificate

PASSWORD = "Str0ng-Pass!"


async def issued(svc, certs, **fields):
    user, attempt = await certs.passed(**fields)
    await issue_certificate({"svc": svc, "job_try": 1}, attempt.id)
    return user, attempt, await certs.certificate(attempt.id)


async def test_index__shows_generating_then_download_and_print(client, svc, certs):
    user, attempt = await certs.passed()
    await login(client, svc, user.id_number, PASSWORD)
    page = await (await client.get("/certificates")).get_data(as_text=True)
    assert "生成中" in page and 'http-equiv="refresh"' in page
    assert f'id="download-{attempt.id}"' not in page

    await issue_certificate({"svc": svc, "job_try": 1}, attempt.id)
    certificate = await certs.certificate(attempt.id)
    page = await (await client.get("/certificates")).get_data(as_text=True)
    assert certificate.number in page and 'http-equiv="refresh"' not in page
    assert f'href="/certificates/{certificate.number}.pdf?download=1"' in page
    assert f'href="/certificates/{certificate.number}.pdf" target="_blank"' in page
    assert "请第一时间" in page


async def test_index__no_certificates_yet(client, svc, certs):
    user = await certs.learner()
    await certs.attempt(user, passed=False, score=30)
    await login(client, svc, user.id_number, PASSWORD)
    page = await (await client.get("/certificates")).get_data(as_text=True)
    assert 'id="no-certificates"' in page


async def test_index__missing_photo_asks_for_it_then_offers_regenerate(client, svc, certs):
    user = await certs.learner(photo=False)
    attempt = await certs.attempt(user)
    await issue_certificate({"svc": svc, "job_try": 1}, attempt.id)
    await login(client, svc, user.id_number, PASSWORD)
    page = await (await client.get("/certificates")).get_data(as_text=True)
    assert "待上传照片" in page and "请先在“" in page and 'href="/profile"' in page
    csrf = await csrf_of(client)
    response = await client.post(
        f"/certificates/{attempt.id}/regenerate", form={"csrf_token": csrf}
    )
    assert response.status_code == 409
    assert "请先在“我的资料”上传照片" in await response.get_data(as_text=True)
    assert (await certs.certificate(attempt.id)).state == CertificateState.NEEDS_PHOTO

    await certs.upload_photo(user)
    page = await (await client.get("/certificates")).get_data(as_text=True)
    assert f'id="regenerate-{attempt.id}"' in page
    response = await client.post(
        f"/certificates/{attempt.id}/regenerate", form={"csrf_token": csrf}
    )
    assert response.status_code == 302
    assert (await certs.certificate(attempt.id)).state == CertificateState.QUEUED
    assert await svc.redis.keys("arq:job:certificate:*")


async def test_regenerate__someone_elses_attempt_is_not_found(client, svc, certs):
    _, attempt = await certs.passed()
    other = await certs.learner(name="李四")
    await login(client, svc, other.id_number, PASSWORD)
    response = await client.post(
        f"/certificates/{attempt.id}/regenerate", form={"csrf_token": await csrf_of(client)}
    )
    assert response.status_code == 404
    assert await certs.all() == []


async def test_download__owner_gets_the_pdf_inline_or_as_attachment(client, svc, certs):
    user, _, certificate = await issued(svc, certs)
    await login(client, svc, user.id_number, PASSWORD)
    response = await client.get(f"/certificates/{certificate.number}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert "private" in response.headers["Cache-Control"]
    body = await response.get_data()
    assert body.startswith(b"%PDF")
    saved = await client.get(f"/certificates/{certificate.number.lower()}.pdf?download=1")
    assert saved.headers["Content-Disposition"].startswith("attachment;")
    assert (
        "filename*=UTF-8''%E5%90%88%E6%A0%BC%E8%AF%81%E4%B9%A6-"
        in saved.headers["Content-Disposition"]
    )


async def test_download__another_learner_gets_404_and_anonymous_must_log_in(
    client, svc, certs, app
):
    _, _, certificate = await issued(svc, certs)
    url = f"/certificates/{certificate.number}.pdf"
    anonymous = await client.get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    other = await certs.learner(name="李四")
    await login(client, svc, other.id_number, PASSWORD)
    response = await client.get(url)
    assert response.status_code == 404
    assert b"%PDF" not in await response.get_data()
    assert (await client.get("/certificates/2026NOTANUMBER1.pdf")).status_code == 404


async def test_download__admin_may_download_any_certificate(app, svc, certs, factory):
    _, _, certificate = await issued(svc, certs)
    admin = await factory.user(roles=("admin",), name="管理员")
    client = app.test_client()
    await login(client, svc, admin.id_number, PASSWORD)
    response = await client.get(f"/certificates/{certificate.number}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"


async def test_download__not_ready_and_revoked_are_refused_with_a_reason(client, svc, certs):
    user, attempt = await certs.passed()
    async with svc.db.write() as db:
        certificate = await issuing.request_certificate(session=db, attempt=attempt, now=svc.now())
    await login(client, svc, user.id_number, PASSWORD)
    response = await client.get(f"/certificates/{certificate.number}.pdf")
    assert response.status_code == 409
    assert "证书尚未生成" in await response.get_data(as_text=True)
    await issue_certificate({"svc": svc, "job_try": 1}, attempt.id)
    async with svc.db.write() as db:
        await service.revoke(
            session=db,
            certificate_id=certificate.id,
            reason="信息有误",
            now=svc.now(),
            actor_id=None,
        )
    response = await client.get(f"/certificates/{certificate.number}.pdf")
    assert response.status_code == 410
    assert "该证书已撤销" in await response.get_data(as_text=True)
    page = await (await client.get("/certificates")).get_data(as_text=True)
    assert "已撤销" in page and "信息有误" in page


async def test_verify__valid_certificate_shows_masked_name_and_nothing_personal(app, svc, certs):
    user, _, certificate = await issued(svc, certs)
    client = app.test_client()  # nobody logged in
    response = await client.get(f"/verify/{certificate.number}")
    page = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-status="valid"' in page and "证书有效" in page
    assert "张*全" in page and "张安全" not in page
    assert "注册安全工程师继续教育 2026年第一期" in page
    assert "48 学时（1920 分钟）" in page and "2026年3月2日" in page
    for private in (user.id_number, user.id_number[-4:], user.work_unit, "86.5", "男"):
        assert private not in page
    assert 'name="robots" content="noindex"' in page


async def test_verify__unknown_and_mistyped_numbers_are_not_found(app, svc, certs):
    _, attempt = await certs.passed()
    async with svc.db.write() as db:
        pending = await issuing.request_certificate(session=db, attempt=attempt, now=svc.now())
    client = app.test_client()
    for number in (pending.number, "2026ABCDEFGHJK0", "<b>x", "x" * 300):
        response = await client.get(f"/verify/{number}")
        page = await response.get_data(as_text=True)
        assert response.status_code == 404, number
        assert 'data-status="unknown"' in page and "未找到该证书" in page
        assert "<b>x" not in page


async def test_verify__form_normalises_what_was_typed(app, svc, certs):
    _, _, certificate = await issued(svc, certs)
    client = app.test_client()
    assert "输入证书上的证书编号" in await (await client.get("/verify")).get_data(as_text=True)
    typed = f" {certificate.number[:4]}-{certificate.number[4:].lower()} "
    response = await client.get("/verify", query_string={"number": typed})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/verify/{certificate.number}")


async def test_admin__learners_may_not_see_the_admin_page(client, svc, certs):
    user = await certs.learner()
    await login(client, svc, user.id_number, PASSWORD)
    assert (await client.get("/admin/certificates")).status_code == 403


async def test_admin__failed_job_shows_its_error_and_retry_queues_it(app, svc, certs, factory):
    user, attempt = await certs.passed()
    (svc.config.photo_dir / user.photo_file).write_bytes(b"broken")
    assert await issue_certificate({"svc": svc, "job_try": 5}, attempt.id) == "failed"
    certificate = await certs.certificate(attempt.id)
    admin = await factory.user(roles=("admin",), name="管理员")
    client = app.test_client()
    await login(client, svc, admin.id_number, PASSWORD)
    page = await (await client.get("/admin/certificates?state=attention")).get_data(as_text=True)
    assert certificate.number in page and "照片文件无法读取" in page
    assert f'id="retry-{certificate.id}"' in page
    response = await client.post(
        f"/admin/certificates/{certificate.id}/retry?state=attention",
        form={"csrf_token": await csrf_of(client)},
    )
    assert response.status_code == 302 and "state=attention" in response.headers["Location"]
    assert (await certs.certificate(attempt.id)).state == CertificateState.QUEUED
    assert await svc.redis.keys(f"arq:job:certificate:{attempt.id}:*")
    async with svc.db.read() as db:
        entry = await db.scalar(select(AuditEntry).where(AuditEntry.action == "certificate.retry"))
    assert entry.actor_id == admin.id and certificate.number in entry.detail


async def test_admin__retry_all_failed_queues_each_and_audits_each(app, svc, certs, factory):
    failed = []
    for _ in range(2):
        user, attempt = await certs.passed()
        (svc.config.photo_dir / user.photo_file).write_bytes(b"broken")
        assert await issue_certificate({"svc": svc, "job_try": 5}, attempt.id) == "failed"
        failed.append(attempt)
    admin = await factory.user(roles=("admin",), name="管理员")
    client = app.test_client()
    await login(client, svc, admin.id_number, PASSWORD)
    page = await (await client.get("/admin/certificates")).get_data(as_text=True)
    assert "全部重试（2 张生成失败）" in page and "python -m app" not in page
    response = await client.post(
        "/admin/certificates/retry-failed", form={"csrf_token": await csrf_of(client)}
    )
    assert response.status_code == 302
    page = await (await client.get(response.headers["Location"])).get_data(as_text=True)
    assert "已全部重新加入生成队列" in page and 'id="retry-failed"' not in page
    for attempt in failed:
        assert (await certs.certificate(attempt.id)).state == CertificateState.QUEUED
        assert await svc.redis.keys(f"arq:job:certificate:{attempt.id}:*")
    async with svc.db.read() as db:
        entries = list(
            await db.scalars(select(AuditEntry).where(AuditEntry.action == "certificate.retry"))
        )
    assert len(entries) == 2 and all(e.actor_id == admin.id for e in entries)
    again = await client.post(
        "/admin/certificates/retry-failed", form={"csrf_token": await csrf_of(client)}
    )
    page = await (await client.get(again.headers["Location"])).get_data(as_text=True)
    assert "没有生成失败的证书" in page


async def test_admin__revoke_needs_a_reason_then_verification_says_revoked(
    app, svc, certs, factory
):
    _, attempt, certificate = await issued(svc, certs)
    admin = await factory.user(roles=("admin",), name="管理员")
    client = app.test_client()
    await login(client, svc, admin.id_number, PASSWORD)
    csrf = await csrf_of(client)
    url = f"/admin/certificates/{certificate.id}/revoke"
    response = await client.post(url, form={"csrf_token": csrf, "reason": "  "})
    assert response.status_code == 400
    assert "请填写撤销原因" in await response.get_data(as_text=True)
    response = await client.post(url, form={"csrf_token": csrf, "reason": "长" * 201})
    assert "不能超过200字" in await response.get_data(as_text=True)
    assert (await certs.certificate(attempt.id)).state == CertificateState.ISSUED

    response = await client.post(url, form={"csrf_token": csrf, "reason": "学时记录有误"})
    assert response.status_code == 302
    revoked = await certs.certificate(attempt.id)
    assert revoked.state == CertificateState.REVOKED and revoked.revoke_reason == "学时记录有误"
    assert revoked.revoked_by == admin.id
    again = await client.post(url, form={"csrf_token": csrf, "reason": "再次"})
    assert "该证书已撤销" in await again.get_data(as_text=True)
    page = await (await app.test_client().get(f"/verify/{certificate.number}")).get_data(
        as_text=True
    )
    assert 'data-status="revoked"' in page and "证书已撤销" in page
    assert "学时记录有误" not in page  # the reason is for the holder and admins only
    listing = await (await client.get("/admin/certificates?state=revoked")).get_data(as_text=True)
    assert "学时记录有误" in listing


async def test_admin__search_by_number_name_or_id(app, svc, certs, factory):
    user, _, certificate = await issued(svc, certs)
    await issued(svc, certs, name="李四")
    admin = await factory.user(roles=("admin",), name="管理员")
    client = app.test_client()
    await login(client, svc, admin.id_number, PASSWORD)
    for query in (certificate.number.lower(), "张安", user.id_number):
        page = await (await client.get("/admin/certificates", query_string={"q": query})).get_data(
            as_text=True
        )
        assert len(re.findall(r'id="cert-row-\d+"', page)) == 1, query
        assert certificate.number in page
