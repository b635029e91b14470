"""A registration's whole life from a fresh account, across every role it touches, in real
pages with the site's headers enforced (issue 19): the admin imports 资格信息 and sets up the
authority and its reviewer; the applicant 设置密码, passes 资格信息验证, uploads the photo
and applies; the first reviewer returns it with a reason; the applicant corrects and
resubmits; both reviews approve; anyone verifies the registration; 变更注册; the admin
cancels it (the applicant is told why); 重新注册.

Every page opened is checked by axe-core and photographed (`look`), the applicant's on a
phone too."""

from __future__ import annotations

import re

from tests.admin.conftest import person_id
from tests.e2e.conftest import browser_login, look
from tests.e2e.registration_steps import (
    ADMIN_PASSWORD,
    MY_PASSWORD,
    NEW_EMPLOYER,
    STAFF_PASSWORD,
    admin_prepares,
    apply_initial,
    choose_authority,
    fill,
    first_use,
    qualify_and_photo,
    review,
    steps_to_preview,
    submit,
)
from tests.factories import Factory


async def test_journey__registration_from_qualification_import_to_reregistration(
    pages, live_svc, worker, tmp_path, clock
):
    factory = Factory(live_svc)
    redis = live_svc.redis
    admin = await factory.user(roles=("admin",), name="王管理", password=ADMIN_PASSWORD)
    first = await factory.user(roles=("reviewer",), name="周初审", password=STAFF_PASSWORD)
    final = await factory.user(roles=("final_reviewer",), name="吴终审", password=STAFF_PASSWORD)
    id_number = person_id("男")

    staff = await pages.new()
    await browser_login(staff, redis, admin.id_number, ADMIN_PASSWORD)
    await admin_prepares(staff, redis, tmp_path, id_number, first)

    me = await pages.new()
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

    stranger = await pages.new(phone=True)
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
