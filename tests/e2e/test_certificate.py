"""After passing, the learner downloads the certificate and anyone can verify it (issue 5)."""

import io
import shutil
import subprocess

import pypdf

from app.certificates import issuing
from tests.certificates.conftest import Certs
from tests.conftest import running_worker
from tests.e2e.conftest import SCREENSHOTS, browser_login, shot
from tests.factories import Factory, id_photo


async def test_certificate__learner_downloads_prints_and_the_qr_code_verifies(
    pages, page, live_server, live_svc, config, tmp_path
):
    live_svc.config.public_url = live_server.base_url  # the QR code points at this server
    certs = Certs(live_svc, Factory(live_svc))
    user, attempt = await certs.passed()
    await browser_login(page, live_svc.redis, user.id_number, "Str0ng-Pass!")
    await page.goto("/exams/records")
    await page.click(f"#certificate-link-{attempt.id}")
    await page.wait_for_url("**/certificates")
    row = page.locator(f"#cert-{attempt.id}")
    assert "生成中" in await row.inner_text()
    await shot(page, "certificate-01-generating")

    # The worker starts only now: its per-minute sweep queues a certificate nobody queued,
    # so a worker running from the start could have issued it before the page was read.
    async with running_worker(config):
        # What the exam area does once the passed attempt is committed.
        assert await issuing.queue_certificates(live_svc, [attempt.id]) == 1
        await certs.wait_for(attempt.id, "issued", timeout=60)
    await page.reload()
    download_link = page.locator(f"#download-{attempt.id}")
    assert await download_link.inner_text() == "下载"
    assert await page.locator(f"#print-{attempt.id}").get_attribute("target") == "_blank"
    await shot(page, "certificate-02-ready")

    async with page.expect_download() as info:
        await download_link.click()
    download = await info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf_path = tmp_path / "certificate.pdf"
    await download.save_as(pdf_path)
    certificate = await certs.certificate(attempt.id)
    reader = pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes()))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "张安全" in text and certificate.number in text

    # 打印 opens the same PDF inline, for the browser's own viewer and print dialog.
    inline = await page.request.get(f"/certificates/{certificate.number}.pdf")
    assert inline.ok and inline.headers["content-disposition"].startswith("inline")

    SCREENSHOTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "110", "-png", "-singlefile", str(pdf_path), "certificate"],
        cwd=SCREENSHOTS,
        check=True,
    )
    if shutil.which("zbarimg"):
        scanned = subprocess.run(
            ["zbarimg", "--raw", "-q", str(SCREENSHOTS / "certificate.png")],
            capture_output=True,
            text=True,
        )
        url = scanned.stdout.strip()
        assert url == f"{live_server.base_url}/verify/{certificate.number}"
    else:
        url = f"{live_server.base_url}/verify/{certificate.number}"

    # A stranger scans the code on a phone.
    phone = await pages.new(phone=True)
    await phone.goto(url)
    assert await phone.locator("#verdict").get_attribute("data-status") == "valid"
    assert await phone.locator("#v-name").inner_text() == "张*全"
    await shot(phone, "certificate-03-verify-phone")
    await phone.fill("#verify-number", "2026AAAAAAAAAA0")
    pages.expect(404, "/verify/2026AAAAAAAAAA0")  # no such certificate: the page says so
    await phone.click("#verify-submit")
    assert await phone.locator("#verdict").get_attribute("data-status") == "unknown"


async def test_certificate__admin_sees_failures_retries_and_revokes(page, live_svc, worker):
    live_svc.config.certificate_retry_seconds = 60  # the automatic retry waits; the admin acts
    certs = Certs(live_svc, Factory(live_svc))
    _, good = await certs.passed()
    broken_user, broken = await certs.passed(name="李四")
    (live_svc.config.photo_dir / broken_user.photo_file).write_bytes(b"not a jpeg")
    await issuing.queue_certificates(live_svc, [good.id, broken.id])
    await certs.wait_for(good.id, "issued")
    failed = await certs.wait_for(broken.id, "failed")
    admin = await Factory(live_svc).user(roles=("admin",), name="管理员")
    await browser_login(page, live_svc.redis, admin.id_number, "Str0ng-Pass!")

    await page.goto("/admin/certificates?state=attention")
    row = page.locator(f"#cert-row-{failed.id}")
    assert "照片文件无法读取" in await row.inner_text()
    await shot(page, "certificate-04-admin-failed")
    (live_svc.config.photo_dir / broken_user.photo_file).write_bytes(id_photo())  # restored
    await page.click(f"#retry-{failed.id}")
    assert "已重新加入生成队列" in await page.locator("#admin-msg").inner_text()
    await certs.wait_for(broken.id, "issued")

    issued = await certs.certificate(good.id)
    await page.goto("/admin/certificates?state=issued")
    row = page.locator(f"#cert-row-{issued.id}")
    await row.locator("summary").click()
    await row.locator("input[name=reason]").fill("学时记录有误，需重新学习")
    await shot(page, "certificate-05-admin-revoke")
    await row.locator("button[type=submit]").click()
    assert "证书已撤销" in await page.locator("#admin-msg").inner_text()
    assert (await certs.certificate(good.id)).state == "revoked"
    await page.goto(f"/verify/{issued.number}")
    assert await page.locator("#verdict").get_attribute("data-status") == "revoked"
