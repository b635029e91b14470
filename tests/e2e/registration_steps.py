"""The steps of the registration journeys (tests/e2e/test_journey_*.py), as an applicant,
an admin and the reviewers take them in the browser."""

from __future__ import annotations

import datetime as dt

from tests.conftest import START
from tests.e2e.conftest import browser_login, look
from tests.e2e.test_photo import portrait
from tests.factories import captcha_answer
from tests.registration.conftest import EMPLOYER, EXPERIENCE, PERSONAL
from tests.spreadsheets import workbook

ADMIN_PASSWORD = "Guanli#2026-Test"
STAFF_PASSWORD = "Shenhe#2026-Test"
MY_PASSWORD = "Zhuce-Anquan-66"
NAME = "孙注册"
CERTIFICATE = "ZA20250001234"
AUTHORITY = "天津市应急管理局"
NEW_EMPLOYER = {"name": "天津某石化有限公司", "uscc": "91120116MA05K8XN19"}


async def fill(page, values: dict, prefix: str) -> None:
    """Fill in the fields of a step's form that the page has (a step may show fewer than
    `values` holds), once the page the last click opened has loaded: counted earlier, while
    the page was still arriving, a field was skipped as missing, and the step refused."""
    await page.wait_for_load_state()
    for key, value in values.items():
        selector = f"#{prefix}-{key}"
        if await page.locator(f"select{selector}").count():
            await page.select_option(selector, value)
        elif await page.locator(f"input{selector}").count():
            await page.fill(selector, value)


async def choose_authority(page) -> None:
    option = page.locator("#authority option", has_text=AUTHORITY)
    await page.select_option("#authority", await option.get_attribute("value"))


async def steps_to_preview(page, name: str) -> None:
    """From a step the caller has looked at, walk 下一步 through the steps already filled
    to the preview, looking at each page on the way."""
    while True:
        await page.click("#step-next")
        await page.wait_for_load_state()
        step = page.url.split("?")[0].rsplit("/", 1)[1]
        await look(page, f"journey-{name}-{step}", phone=True)
        if step == "preview":
            return


async def submit(page) -> None:
    await page.click("#submit-app")
    await page.wait_for_url("**/registration?done=submitted")


async def review(
    pages, redis, reviewer, outcome: str, name: str, reasons=None, *, queue: bool = False
) -> None:
    """A reviewer opens the queue, the newest application, and decides. The application
    is looked at every time (each kind prints its own form); the queue, the same page
    each time, before and after deciding only when asked (`queue`)."""
    page = await pages.new()
    await browser_login(page, redis, reviewer.id_number, STAFF_PASSWORD)
    await page.goto("/review")
    if queue:
        await look(page, f"journey-{name}-queue")
    await page.locator("[id^=open-]").first.click()
    for key, text in (reasons or {}).items():
        await page.fill(f"#reason-{key}", text)
    await look(page, f"journey-{name}-detail")
    await page.click(outcome)
    await page.wait_for_url("**/review?done=*")
    if queue:
        await look(page, f"journey-{name}-done")
    await page.context.close()


async def admin_prepares(page, redis, tmp_path, id_number: str, reviewer) -> None:
    """资格信息 from Excel, the authority and its 初审 reviewer."""
    await page.goto("/admin/registration/qualifications")
    await look(page, "journey-registration-01-admin-qualifications")
    sheet = tmp_path / "2025年考试合格人员.xlsx"
    qualified_on = (START - dt.timedelta(days=120)).date().isoformat()
    sheet.write_bytes(
        workbook(
            [
                (
                    "姓名",
                    "证件类型",
                    "证件号码",
                    "资格证书编号",
                    "级别",
                    "专业类别",
                    "取得资格日期",
                ),
                (NAME, "居民身份证", id_number, CERTIFICATE, "中级", "化工安全", qualified_on),
            ]
        )
    )
    await page.set_input_files("#q-file", str(sheet))
    await page.click("#q-import")
    assert "1" in await page.inner_text("#import-summary")
    await look(page, "journey-registration-02-admin-imported")

    await page.goto("/admin/registration/authorities")
    await page.fill("#a-name", AUTHORITY)
    await page.click("#a-add")
    await page.locator("#admin-msg").wait_for()
    row = page.locator("#a-table tbody tr", has_text=AUTHORITY)
    await row.locator("input[name=id_number]").fill(reviewer.id_number)
    await row.locator("button", has_text="指派").click()
    await page.locator("#admin-msg").wait_for()
    assert reviewer.name in await page.inner_text("#a-table")
    await look(page, "journey-registration-03-admin-authorities")


async def first_use(page, redis, id_number: str) -> None:
    """设置密码 from the login page, then the first login."""
    await page.goto("/login")
    await page.click("#link-setup-password")
    await look(page, "journey-registration-10-setup-verify", phone=True)
    await page.fill("#id-number", id_number)
    await page.fill("#s-name", NAME)
    await page.fill("#s-number", CERTIFICATE)
    await page.fill("#captcha", await captcha_answer(redis, await page.input_value("#captcha-id")))
    await page.click("#s-submit")
    await page.locator("#s-password").wait_for()
    await look(page, "journey-registration-11-setup-password", phone=True)
    await page.fill("#s-password", MY_PASSWORD)
    await page.fill("#s-confirm", MY_PASSWORD)
    await page.click("#s-save")
    await page.locator("#go-login").wait_for()
    await look(page, "journey-registration-12-password-done", phone=True)
    await page.click("#go-login")
    await browser_login(page, redis, id_number, MY_PASSWORD)
    await page.goto("/registration")
    await look(page, "journey-registration-13-home", phone=True)


async def qualify_and_photo(pages, page, tmp_path) -> None:
    """资格信息验证 (a mistyped number first), and the photo through the cropper."""
    await page.goto("/registration/qualify")
    await look(page, "journey-registration-14-qualify", phone=True)
    await page.fill("#q-name", NAME)
    await page.fill("#q-number", "ZA20259999999")
    pages.expect(400, "/registration/qualify")  # the form again, saying why
    await page.click("#q-submit")
    await page.locator("#form-error").wait_for()
    await look(page, "journey-registration-15-qualify-refused", phone=True)
    await page.fill("#q-number", CERTIFICATE)
    await page.click("#q-submit")
    await page.wait_for_url("**/registration?done=qualified")

    await page.goto("/profile")
    source = tmp_path / "portrait.png"
    portrait(source, (600, 840), "PNG")
    await page.set_input_files("#photo-file", str(source))
    await page.locator("#cropper").wait_for(state="visible")
    await look(page, "journey-registration-16-profile-cropper", phone=True)
    await page.click("#photo-upload")
    await page.locator("#my-photo").wait_for()
    await look(page, "journey-registration-17-profile-photo", phone=True)


async def apply_initial(page) -> None:
    await page.goto("/registration")
    await page.click("#start-initial")
    await page.check("#channel-province")
    await choose_authority(page)
    await page.select_option("#category", "化工安全")
    await look(page, "journey-registration-20-channel", phone=True)
    await page.click("#step-next")
    await fill(page, PERSONAL, "p")
    assert await page.locator("#reg-photo").count() == 1  # the photo just uploaded
    await look(page, "journey-registration-21-personal", phone=True)
    await page.click("#step-next")
    await fill(page, {**EMPLOYER, "contact": "李"}, "e")  # the contact's surname only
    await look(page, "journey-registration-22-employer", phone=True)
    await page.click("#step-next")
    await fill(page, EXPERIENCE, "x")
    await page.click("#exp-add")
    await page.locator("#exp-table tbody tr").first.wait_for()
    await look(page, "journey-registration-23-experience", phone=True)
    await steps_to_preview(page, "registration-24")
    await submit(page)
    assert "等待初审" in await page.inner_text("#app-status-label")
    await look(page, "journey-registration-25-submitted", phone=True)
