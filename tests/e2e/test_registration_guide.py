"""The registration guide's entry points and steps as an applicant meets them, with the
site's Content-Security-Policy enforced: the 注册申请登陆 tab and its 温馨提示 → 初始注册 →
注册资格信息验证 → 设置密码 → 注册管理; the photo uploaded on the 变更注册 step (guide §3(1))
and then 上报; the 注销 notice with its reason on 公告信息; a 终审 of another authority
refused the first stage; the renewal window's notice the minute it opens; a 逾期初始注册
from the reason on the home page to its printed form."""

from __future__ import annotations

import datetime as dt
import subprocess

import pypdf
from sqlalchemy import select

from app.accounts.models import User, UserRole
from app.clock import SHANGHAI
from app.profile import service as profile
from app.registration import rules
from app.registration.models import Qualification
from tests.e2e.conftest import SCREENSHOTS, browser_login, loaded_image_size, look
from tests.e2e.test_photo import portrait
from tests.factories import Factory, captcha_answer, new_id_number
from tests.registration.conftest import Reg

PASSWORD = "Str0ng-Pass!"


async def _captcha(page, redis) -> None:
    await page.fill("#captcha", await captcha_answer(redis, await page.input_value("#captcha-id")))


async def test_entry__applicants_tab_tip_leads_to_qualification_check_then_initial(pages, live_svc):
    page = await pages.new()
    reg = Reg(live_svc, Factory(live_svc))
    number = new_id_number("19880415")
    async with live_svc.db.write() as db:
        db.add(
            Qualification(
                name="钱初注",
                id_type="id_card",
                id_number=number,
                certificate_no="ZA20250001",
                level="中级",
                category="化工安全",
                qualified_on=live_svc.now().date().replace(year=2025),
                imported_at=live_svc.now(),
            )
        )
    await reg.authority()

    await page.goto("/")
    assert page.url.endswith("/login")
    await page.click("#tab-registration")
    await page.locator("#reg-tips").wait_for()
    assert await page.get_attribute("#tab-registration", "aria-current") == "page"
    assert "温馨提示" in await page.inner_text("#reg-tips")
    await look(page, "guide-01-login-applicants-tab", phone=True)
    await page.click("#link-initial")
    assert await page.inner_text("#verify-title") == "注册资格信息验证"
    await page.fill("#id-number", number)
    await page.fill("#s-name", "钱初注")
    await page.fill("#s-number", "ZA20250001")
    await _captcha(page, live_svc.redis)
    await look(page, "guide-02-qualification-check", phone=True)
    await page.click("#s-submit")
    await page.wait_for_url("**/setup-password/*")
    await page.fill("#s-password", PASSWORD)
    await page.fill("#s-confirm", PASSWORD)
    await page.click("#s-save")
    await page.wait_for_url("**/password-done*")
    await page.click("#go-login")
    assert await page.get_attribute("#tab-registration", "aria-current") == "page"
    await page.fill("#username", number)
    await page.fill("#password", PASSWORD)
    await _captcha(page, live_svc.redis)
    await page.click("#login-submit")
    await page.wait_for_url("**/registration")
    assert await page.locator("#start-initial").is_visible()
    await look(page, "guide-03-registration-home", phone=True)


async def _registered(live_svc, name: str):
    """An engineer registered through both reviews (by the services)."""
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
    first = await reg.reviewer(authority)
    final = await reg.final_reviewer()
    user = await reg.applicant(name=name)
    return reg, authority, user, await reg.registered(user, authority, first, final)


async def _registered_without_photo(live_svc):
    """A registered engineer whose photo an admin has reset: 变更注册 asks for one."""
    reg, authority, user, registration = await _registered(live_svc, "吴变更")
    async with live_svc.db.write() as db:
        await profile.reset_photo(
            session=db, config=live_svc.config, user=await db.get(User, user.id)
        )
    return reg, authority, user, registration


async def test_change__the_photo_is_uploaded_on_its_personal_step_then_it_is_submitted(
    pages, live_svc, tmp_path
):
    page = await pages.new()
    reg, _, user, _ = await _registered_without_photo(live_svc)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto("/registration")
    await page.click("#start-change")
    await page.locator("#photo-needed").wait_for()
    await page.fill("#p-address", "天津市河西区友谊路20号")  # typed, not yet saved
    source = tmp_path / "photo.jpg"
    portrait(source)
    await page.set_input_files("#photo-file", str(source))
    await page.locator("#cropper").wait_for(state="visible")
    await page.click("#photo-upload")
    assert await loaded_image_size(page, "#my-photo") == [295, 412]
    assert await page.locator("#photo-needed [data-photo-hint]").count() == 0
    # No reload: what the applicant typed is still there.
    assert await page.input_value("#p-address") == "天津市河西区友谊路20号"
    await look(page, "guide-04-change-personal-photo", phone=True)
    await page.click("#step-next")  # 个人基本信息 saved
    await page.click("#step-next")  # 变更注册信息: channel and category kept
    await page.fill("#e-name", "天津新单位有限公司")
    await page.fill("#e-uscc", "91340600MA2PBM9HXD")
    await page.click("#step-next")
    await page.click("#step-next")
    await page.click("#submit-app")
    await page.wait_for_url("**/registration?done=submitted")
    assert "等待初审" in await page.inner_text("#app-status-label")
    assert (await reg.application(user)).submissions == 1


async def test_cancel__the_applicant_reads_the_reason_on_the_notice_board(pages, live_svc):
    page = await pages.new()
    _, _, user, registration = await _registered(live_svc, "郑注销")
    admin = await Factory(live_svc).user(roles=("admin",), name="王管理")
    await browser_login(page, live_svc.redis, admin.id_number, PASSWORD)
    await page.goto(f"/admin/registration/registrations?q={registration.number}")
    await page.locator("summary", has_text="注销").click()
    await page.fill("input[name=reason]", "聘用单位已依法注销，本人未申请变更注册")
    await page.locator("button", has_text="确认注销").click()
    await page.wait_for_url("**done=cancel*")
    await page.context.clear_cookies()

    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto("/registration")
    assert await page.inner_text("#reg-state") == "已注销"
    board = await page.inner_text("#notice-board")
    assert "注册已注销" in board
    assert "注销原因：聘用单位已依法注销，本人未申请变更注册。" in board
    await look(page, "guide-05-notices-after-cancel", phone=True)


async def test_first_stage__a_final_reviewer_of_another_authority_is_refused(pages, live_svc):
    page = await pages.new()
    pages.expect(403, "/review/*/first")
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
    user = await reg.applicant(name="冯申请")
    application = await reg.submitted(user, authority)
    other = await reg.authority("北京市应急管理局")
    probe = await reg.reviewer(other, name="褚双岗")
    async with live_svc.db.write() as db:
        db.add(UserRole(user_id=probe.id, role="final_reviewer"))
    await browser_login(page, live_svc.redis, probe.id_number, PASSWORD)
    await page.goto(f"/review/{application.id}")
    assert await page.locator("#first-form").count() == 0
    assert "不能作出初审决定" in await page.inner_text("#first-not-yours")
    # The probe: the first-stage form posted by hand, as a black-box attacker would.
    await page.evaluate(
        """(id) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/review/" + id + "/first";
            for (const [name, value] of [["csrf_token", document.querySelector(
                    'meta[name="csrf-token"]').content], ["outcome", "approve"]]) {
                const input = document.createElement("input");
                input.type = "hidden"; input.name = name; input.value = value;
                form.append(input);
            }
            document.body.append(form);
            form.submit();
        }""",
        application.id,
    )
    await page.wait_for_url(f"**/review/{application.id}/first")
    assert "初审只能由该申请所属注册机构的初审人员作出" in await page.inner_text("#form-error")
    await look(page, "guide-06-first-stage-refused")
    async with live_svc.db.read() as db:
        status = await db.scalar(
            select(type(application).status).where(type(application).id == application.id)
        )
    assert status == "submitted"


async def test_renewal_window__the_notice_is_on_the_board_the_minute_it_opens(
    pages, live_svc, clock
):
    page = await pages.new()
    _, _, user, registration = await _registered(live_svc, "卫延续")
    async with live_svc.db.read() as db:
        rule_set = await rules.current(session=db)
    opens = rules.renewal_window(rule_set, registration.valid_until).opens
    clock.set(dt.datetime.combine(opens, dt.time(0), tzinfo=SHANGHAI).astimezone(dt.UTC))
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto("/registration")
    board = await page.inner_text("#notice-board")
    assert "延续注册已开始受理" in board
    assert f"（{rules.day_text(opens)}至{rules.day_text(registration.valid_until)}）" in board
    assert await page.locator("#start-renewal").is_visible()
    await look(page, "guide-07-notices-renewal-window-open", phone=True)


async def test_late_initial__the_applicant_sees_why_and_the_form_says_it(pages, live_svc, tmp_path):
    page = await pages.new()
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
    user = await reg.certs.learner(name="孙逾期")
    await reg.qualification(user, qualified_on=dt.date(2021, 9, 1), number="ZA20210901")
    await reg.earned(user, 1280)
    await reg.earned(user, 660)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto("/registration")
    note = await page.inner_text("#note-late_initial")
    assert "取得资格日期2021年9月1日，已超过初始注册期限3年（截至2024年9月1日）" in note
    assert await page.locator("#start-initial").count() == 0
    await look(page, "guide-08-late-initial-home", phone=True)
    await page.click("#start-late_initial")
    await reg.fill(user, authority)
    await page.goto("/registration/apply/education")
    summary = await page.inner_text("#ce-summary")
    assert summary == "合计48.5学时，规定48.0学时，已满足要求。"
    await look(page, "guide-09-late-initial-education", phone=True)
    await page.goto("/registration/apply/preview")
    assert "按逾期初始注册办理" in await page.inner_text("#form-late")
    pdf = await page.request.get("/registration/apply/form.pdf")
    pdf_path = tmp_path / "late.pdf"
    pdf_path.write_bytes(await pdf.body())
    text = "".join("".join(p.extract_text().split()) for p in pypdf.PdfReader(pdf_path).pages)
    assert "注册安全工程师逾期初始注册申请表" in text and "逾期说明" in text
    assert "合计48.5规定48.0学时" in text
    SCREENSHOTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", str(pdf_path), "guide-10-late-initial-form"],
        cwd=SCREENSHOTS,
        check=True,
    )
    await page.click("#submit-app")
    await page.wait_for_url("**/registration?done=submitted")
