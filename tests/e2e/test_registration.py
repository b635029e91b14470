"""A full initial registration through both reviews, then a renewal fed by a certificate
earned on this platform (issue 12); the printed form looked at as PNG; every page shot."""

import asyncio
import datetime as dt
import shutil
import subprocess

import pypdf
import pytest

from app.certificates import issuing
from tests.e2e.conftest import SCREENSHOTS, browser_login, shot
from tests.e2e.registration_steps import fill
from tests.factories import Factory
from tests.registration.conftest import EMPLOYER, EXPERIENCE, PERSONAL, Reg

PASSWORD = "Str0ng-Pass!"


async def _person(pages, redis, user):
    page = await pages.new()
    await browser_login(page, redis, user.id_number, PASSWORD)
    return page


async def _review(pages, redis, reviewer, application_id, button, name):
    page = await _person(pages, redis, reviewer)
    await page.goto("/review")
    await shot(page, f"registration-{name}-queue")
    await page.click(f"#open-{application_id}")
    await shot(page, f"registration-{name}-detail")
    await page.click(button)
    await page.wait_for_url("**/review?done=*")
    await page.context.close()


def _to_png(pdf_path, stem: str) -> None:
    subprocess.run(
        ["pdftoppm", "-r", "70", "-png", str(pdf_path), stem], cwd=SCREENSHOTS, check=True
    )


async def test_registration__initial_through_both_reviews_then_renewal_by_platform_credit(
    pages, page, live_svc, worker, tmp_path, clock
):
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
    first = await reg.reviewer(authority)
    final = await reg.final_reviewer()
    user = await reg.applicant()
    redis = live_svc.redis

    # The login form offers 证件类型, 设置密码 and 忘了密码.
    await page.goto("/login")
    assert await page.locator("#id-type").input_value() == "id_card"
    await shot(page, "registration-00-login")
    await page.click("#link-setup-password")
    await shot(page, "registration-00-setup-password")
    await page.goto("/registration/forgot-password")
    await shot(page, "registration-00-forgot-password")

    await browser_login(page, redis, user.id_number, PASSWORD)
    await page.goto("/registration")
    await shot(page, "registration-01-home")
    await page.click("#start-initial")
    await page.check("#channel-province")
    await page.select_option("#authority", str(authority.id))
    await page.select_option("#category", "化工安全")
    await shot(page, "registration-02-channel")
    await page.click("#step-next")
    await fill(page, PERSONAL, "p")
    await shot(page, "registration-03-personal")
    await page.click("#step-next")
    await fill(page, {**EMPLOYER, "uscc": "91110000600037341N"}, "e")
    pages.expect(400, "/registration/apply/employer")  # the form again, with the reason
    await page.click("#step-next")
    assert "校验位不正确" in await page.inner_text("#form-error")
    await page.fill("#e-uscc", EMPLOYER["uscc"])
    await shot(page, "registration-04-employer")
    await page.click("#step-next")
    await fill(page, EXPERIENCE, "x")
    await page.click("#exp-add")
    await fill(page, {**EXPERIENCE, "start": "2015-01", "end": "", "unit": "乙公司"}, "x")
    pages.expect(400, "/registration/apply/experience*")
    await page.click("#exp-add")
    assert "时间重叠" in await page.inner_text("#form-error")
    await fill(page, {**EXPERIENCE, "start": "2016-06", "end": "", "unit": "天津某化工集团有限公司",
                       "position": "安全科科长", "duty": "危险化学品安全管理"}, "x")  # fmt: skip
    await page.click("#exp-add")
    await shot(page, "registration-05-experience")
    await page.click("#step-next")
    await shot(page, "registration-06-preview")

    # 打印: the PDF is one sheet printed on both sides; 导出到word: a real .docx.
    pdf = await page.request.get("/registration/apply/form.pdf")
    pdf_path = tmp_path / "form.pdf"
    pdf_path.write_bytes(await pdf.body())
    assert len(pypdf.PdfReader(pdf_path).pages) == 2
    SCREENSHOTS.mkdir(exist_ok=True)
    _to_png(pdf_path, "registration-form-pdf")
    docx = await page.request.get("/registration/apply/form.docx")
    docx_path = tmp_path / "form.docx"
    docx_path.write_bytes(await docx.body())
    if shutil.which("libreoffice"):
        subprocess.run(
            ["libreoffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
             str(docx_path)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        converted = tmp_path / "form.pdf"
        assert "91110000600037341L" in "".join(
            p.extract_text() for p in pypdf.PdfReader(converted).pages
        )
        _to_png(converted, "registration-form-docx")
    else:
        pytest.skip("LibreOffice is not installed (make test installs libreoffice-writer-nogui)")

    await page.click("#submit-app")
    await page.wait_for_url("**/registration?done=submitted")
    assert "等待初审" in await page.inner_text("#app-status-label")
    application = await reg.application(user)

    clock.advance(hours=5)
    await _review(pages, redis, first, application.id, "#first-approve", "07-first")
    await _review(pages, redis, final, application.id, "#final-approve", "08-final")
    await page.goto("/registration")
    number = await page.inner_text("#reg-number")
    assert await page.inner_text("#reg-state") == "有效"
    assert "初始注册已获准" in await page.inner_text("#notice-board")
    await shot(page, "registration-09-registered")
    await page.goto("/registration/history")
    await shot(page, "registration-10-history")

    phone = await pages.new(phone=True)
    await phone.goto(f"/registration/verify/{number}")
    assert await phone.locator("#verdict").get_attribute("data-status") == "valid"
    assert await phone.inner_text("#v-name") == "张*全"
    await shot(phone, "registration-11-verify-phone")

    # Renewal: inside the last three months, fed by a certificate earned on the platform.
    registration = await reg.registration(user)
    clock.set(
        dt.datetime.combine(registration.valid_until - dt.timedelta(days=40), dt.time(2), dt.UTC)
    )
    attempt = await reg.certs.attempt(user)
    assert await issuing.queue_certificates(live_svc, [attempt.id]) == 1
    await reg.certs.wait_for(attempt.id, "issued")
    # Years later the web session is past its absolute lifetime: the person logs in again.
    await page.goto("/registration")
    assert "/login" in page.url
    await browser_login(page, redis, user.id_number, PASSWORD)
    await page.goto("/registration")
    await page.click("#start-renewal")
    await page.click("#step-next")  # 个人基本信息, kept from the initial registration
    await page.click("#step-next")  # 聘用单位, prefilled
    assert "已满足要求" in await page.inner_text("#ce-summary")
    await shot(page, "registration-12-renewal-education")
    await page.click("#step-next")
    await page.click("#step-next")
    await shot(page, "registration-13-renewal-preview")
    await page.click("#submit-app")
    await page.wait_for_url("**/registration?done=submitted")
    renewal = await reg.application(user)
    await _review(pages, redis, first, renewal.id, "#first-approve", "14-first")
    await _review(pages, redis, final, renewal.id, "#final-approve", "15-final")
    renewed = await reg.registration(user)
    assert renewed.number == number
    assert renewed.valid_until == registration.valid_until.replace(
        year=registration.valid_until.year + 3
    )
    await page.goto("/registration")
    await shot(page, "registration-16-renewed")


async def test_registration__admin_pages(page, live_svc):
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
    await reg.reviewer(authority)
    admin = await Factory(live_svc).user(roles=("admin",), name="王管理")
    await browser_login(page, live_svc.redis, admin.id_number, PASSWORD)
    for path, name in (
        ("/admin/registration/rules", "admin-rules"),
        ("/admin/registration/qualifications", "admin-qualifications"),
        ("/admin/registration/authorities", "admin-authorities"),
        ("/admin/registration/registrations", "admin-registrations"),
    ):
        await page.goto(path)
        await shot(page, f"registration-{name}")
    await page.goto("/admin/registration/rules")
    assert "当前启用" in await page.inner_text("#rules-1")
    await asyncio.sleep(0)
