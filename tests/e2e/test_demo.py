"""The demo as a person sits it after `make run`: 赵学完 logs in, sits the demo exam, sees
the result, and prints the certificate (issue 8 §6), against a live server and worker."""

from __future__ import annotations

import io
import subprocess

import pypdf
from sqlalchemy import select

from app.exams.models import Attempt
from app.learning.models import Batch
from devtools import demo
from tests.e2e.conftest import SCREENSHOTS, answers_saved, browser_login, choose, view
from tests.exams.conftest import Exams
from tests.factories import Factory


async def test_demo__studied_learner_sits_the_exam_and_prints_the_certificate(
    page, live_server, live_svc, worker
):
    live_svc.config.public_url = live_server.base_url  # the QR code points at this server
    accounts = await demo.seed(live_svc)
    learner = next(a for a in accounts if a.studied)
    assert learner.name == "赵学完"

    await browser_login(page, live_svc.redis, learner.id_number, learner.password)
    assert page.url.endswith("/profile")  # a first visit: browser_login skipped the tour
    await page.get_by_role("link", name="我的考试").click()
    await page.wait_for_url("**/exams")
    async with live_svc.db.read() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == demo.BATCH_NAME))
    await page.click(f"#start-{batch.id}")
    await page.check("#start-agree")
    await page.click("#start-confirm")
    await page.wait_for_url("**/exams/attempts/*")
    await answers_saved(page)

    attempt_id = int(page.url.rsplit("/", 1)[1])
    async with live_svc.db.read() as db:
        attempt = await db.get(Attempt, attempt_id)
    key = await Exams(live_svc, Factory(live_svc)).key(attempt)
    assert len(key) == 70  # the default policy: 40 single, 10 multiple, 20 judge
    first = list(key.items())[:3]
    for qid, value in first:
        await choose(page, qid, value)
    await answers_saved(page)
    await view(page, "demo-01-exam")
    for qid, value in list(key.items())[3:]:
        await choose(page, qid, value)
    await answers_saved(page)
    assert await page.locator("#answered-count").inner_text() == "70"

    await page.click("#submit-btn")
    await page.locator("#confirm-dialog").wait_for(state="visible")
    await page.click("#confirm-submit")
    await page.locator("#result-dialog").wait_for(state="visible")
    assert await page.locator("#result-text").inner_text() == (
        "恭喜您！您的考试成绩为 100 分，考试合格！请到“考试记录”中查看成绩，合格证书生成后可下载打印。"
    )
    await view(page, "demo-02-result", top=False)

    await page.click("#go-records")
    await page.wait_for_url("**/exams/records")
    await page.click(f"#certificate-link-{attempt_id}")
    await page.wait_for_url("**/certificates")
    # The worker renders it; the page refreshes itself while it says 生成中.
    print_link = page.locator(f"#print-{attempt_id}")
    await print_link.wait_for(timeout=120_000)
    row = await page.locator(f"#cert-{attempt_id}").inner_text()
    assert "已生成" in row and demo.BATCH_NAME in row and "100 分" in row
    await view(page, "demo-03-certificates")

    async with page.expect_popup() as opened:
        await print_link.click()
    printed = await opened.value
    pdf_url = printed.url
    assert pdf_url.endswith(".pdf")
    await printed.close()
    response = await page.request.get(pdf_url)
    assert response.ok and response.headers["content-disposition"].startswith("inline")
    pdf = await response.body()
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = reader.pages[0].extract_text()
    assert "赵学完" in text and demo.BATCH_NAME in text
    assert reader.pages[0].images, "the learner's photo is printed on the certificate"
    (SCREENSHOTS / "demo-certificate.pdf").write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "80",
            "-png",
            "-singlefile",
            "demo-certificate.pdf",
            "demo-04-certificate",
        ],
        cwd=SCREENSHOTS,
        check=True,
    )
    (SCREENSHOTS / "demo-certificate.pdf").unlink()
