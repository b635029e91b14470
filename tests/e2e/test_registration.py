"""The 初始注册 form as an applicant fills it (issue 12): the login page's 证件类型, 设置密码
and 忘了密码; each step's refusal shown with its reason (校验位, 时间重叠); the printed form
(PDF) and 导出到word (a .docx LibreOffice opens) looked at as PNG; every page shot.

What follows the submission is walked in the journeys: both reviews, the registration
verified, 变更 and 重新注册 (test_journey_registration.py); the renewal fed by certificates
earned on the platform (test_journey_renewal.py)."""

import asyncio
import shutil
import subprocess

import pypdf
import pytest

from tests.e2e.conftest import SCREENSHOTS, browser_login, shot
from tests.e2e.registration_steps import fill
from tests.factories import Factory
from tests.registration.conftest import EMPLOYER, EXPERIENCE, PERSONAL, Reg

PASSWORD = "Str0ng-Pass!"


def _to_png(pdf_path, stem: str) -> None:
    subprocess.run(
        ["pdftoppm", "-r", "70", "-png", str(pdf_path), stem], cwd=SCREENSHOTS, check=True
    )


async def test_registration__the_form_tells_each_refusal_and_prints_as_pdf_and_docx(
    pages, page, live_svc, tmp_path
):
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
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
