"""A registration's whole life from a fresh account, across every role it touches, in real
pages with the site's headers enforced (issue 19): the admin imports 资格信息 and sets up the
authority and its reviewer; the applicant 设置密码, passes 资格信息验证, uploads the photo
and applies; the first reviewer returns it with a reason; the applicant corrects and
resubmits; both reviews approve; anyone verifies the registration; 变更注册; the admin
cancels it (the applicant is told why); 重新注册.

Every page opened is checked by axe-core and photographed (`look`), the applicant's on a
phone too."""

from __future__ import annotations

import datetime as dt
import re

from tests.admin.conftest import person_id
from tests.conftest import START
from tests.e2e.conftest import browser_login, look
from tests.e2e.test_photo import portrait
from tests.factories import Factory, captcha_answer
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
    page = await pages.new(axe=True)
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


async def test_journey__registration_from_qualification_import_to_reregistration(
    pages, live_svc, worker, tmp_path, clock
):
    factory = Factory(live_svc)
    redis = live_svc.redis
    admin = await factory.user(roles=("admin",), name="王管理", password=ADMIN_PASSWORD)
    first = await factory.user(roles=("reviewer",), name="周初审", password=STAFF_PASSWORD)
    final = await factory.user(roles=("final_reviewer",), name="吴终审", password=STAFF_PASSWORD)
    id_number = person_id("男")

    staff = await pages.new(axe=True)
    await browser_login(staff, redis, admin.id_number, ADMIN_PASSWORD)
    await admin_prepares(staff, redis, tmp_path, id_number, first)

    me = await pages.new(axe=True)
    await first_use(me, redis, id_number)
    await qualify_and_photo(pages, me, tmp_path)
    await apply_initial(me)

    # Returned with a reason; corrected and submitted again.
    clock.advance(hours=3)
    reason = "联系人请填写全名"
    await review(
        pages,
        redis,
        first,
        "#first-return",
        "registration-30-first-return",
        reasons={"employer": reason},
        queue=True,
    )
    await me.goto("/registration")
    assert "退回" in await me.inner_text("#app-status-label")
    assert reason in await me.inner_text("#notice-board")
    await look(me, "journey-registration-31-returned", phone=True)
    await me.click("#continue-apply")
    await me.goto("/registration/apply/preview")
    assert reason in await me.inner_text("#return-reasons")
    await me.goto("/registration/apply/employer")
    await me.fill("#e-contact", "李建华")
    await look(me, "journey-registration-32-correct-employer", phone=True)
    await steps_to_preview(me, "registration-32")
    await submit(me)

    clock.advance(hours=3)
    await review(pages, redis, first, "#first-approve", "registration-33-first-approve")
    await review(pages, redis, final, "#final-approve", "registration-34-final-approve", queue=True)
    await me.goto("/registration")
    number = await me.inner_text("#reg-number")
    assert await me.inner_text("#reg-state") == "有效"
    assert "初始注册已获准" in await me.inner_text("#notice-board")
    await look(me, "journey-registration-35-registered", phone=True)
    await me.goto("/registration/history")
    await look(me, "journey-registration-36-history", phone=True)

    stranger = await pages.new(phone=True, axe=True)
    await stranger.goto("/registration/verify")
    await look(stranger, "journey-registration-37-verify-form", phone=True)
    await stranger.goto(f"/registration/verify/{number}")
    assert await stranger.locator("#verdict").get_attribute("data-status") == "valid"
    assert await stranger.inner_text("#v-name") == "孙*册"
    await look(stranger, "journey-registration-38-verify", phone=True)

    # 变更注册: a new employer, months later (a new login: sessions end within a day).
    clock.advance(days=200)
    await browser_login(me, redis, id_number, MY_PASSWORD)
    await me.goto("/registration")
    await me.click("#start-change")
    await me.wait_for_url(re.compile(r"/registration/personal"))
    await look(me, "journey-registration-40-change-personal", phone=True)
    await me.goto("/registration/apply/employer")
    await fill(me, NEW_EMPLOYER, "e")
    await look(me, "journey-registration-41-change-employer", phone=True)
    await steps_to_preview(me, "registration-42-change")
    await submit(me)
    clock.advance(hours=3)
    await review(pages, redis, first, "#first-approve", "registration-43-change-first")
    await review(pages, redis, final, "#final-approve", "registration-44-change-final")
    await me.goto("/registration")
    assert NEW_EMPLOYER["name"] in await me.inner_text("#reg-current")
    await look(me, "journey-registration-45-changed", phone=True)

    # 注销 by the admin, with a reason the applicant is told.
    clock.advance(days=30)
    cancel_reason = "聘用单位申请注销：本人已离职"
    await browser_login(staff, redis, admin.id_number, ADMIN_PASSWORD)
    await staff.goto("/admin/registration/registrations")
    row = staff.locator("#r-table tbody tr", has_text=number)
    await row.locator("summary").click()
    await row.locator("input[name=reason]").fill(cancel_reason)
    await look(staff, "journey-registration-50-admin-cancel")
    await row.locator("button", has_text="确认注销").click()
    await staff.locator("#admin-msg").wait_for()
    await look(staff, "journey-registration-51-admin-cancelled")
    await browser_login(me, redis, id_number, MY_PASSWORD)
    await me.goto("/registration")
    assert await me.inner_text("#reg-state") == "已注销"
    await look(me, "journey-registration-52-cancelled", phone=True)
    told = await me.inner_text("#notice-board")

    # 重新注册.
    await me.click("#start-reregistration")
    await me.check("#channel-province")
    await choose_authority(me)
    await look(me, "journey-registration-60-rereg-channel", phone=True)
    await steps_to_preview(me, "registration-61-rereg")
    await submit(me)
    clock.advance(hours=3)
    await review(pages, redis, first, "#first-approve", "registration-62-rereg-first")
    await review(pages, redis, final, "#final-approve", "registration-63-rereg-final")
    await me.goto("/registration")
    assert await me.inner_text("#reg-state") == "有效"
    await look(me, "journey-registration-64-reregistered", phone=True)
    await stranger.goto(f"/registration/verify/{await me.inner_text('#reg-number')}")
    assert await stranger.locator("#verdict").get_attribute("data-status") == "valid"
    # Checked last, so that everything after the cancellation has run whatever this says.
    assert "注销" in told and cancel_reason in told, f"not told of the cancellation: {told}"
