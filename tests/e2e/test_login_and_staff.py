"""记住我的登录信息 on a shared login page, and staff landing on their own work page with
a tour of their own."""

from __future__ import annotations

from tests.e2e.conftest import browser_login, shot
from tests.factories import Factory, captcha_answer

PASSWORD = "Str0ng-Pass!"


async def login_ticked(page, redis, id_number: str, *, remember: bool) -> None:
    await page.goto("/login")
    await page.fill("#username", id_number)
    await page.fill("#password", PASSWORD)
    await page.fill("#captcha", await captcha_answer(redis, await page.input_value("#captcha-id")))
    if remember != await page.is_checked("#remember-id"):
        await page.click("#remember-id")
    await page.click("#login-submit")
    await page.wait_for_load_state()


async def logout(page) -> None:
    if await page.locator("#tour").count():
        await page.click('[data-tour="skip"]')
    await page.click("#tour-usermenu summary")
    await page.click("text=安全退出")
    await page.wait_for_url("**/login")


async def test_login__remembers_the_id_number_only_when_ticked_and_forgets_it(page, live_svc):
    user = await Factory(live_svc).user(name="张安全")
    await page.goto("/login")
    assert await page.input_value("#username") == ""
    assert not await page.is_checked("#remember-id")

    await login_ticked(page, live_svc.redis, user.id_number.lower(), remember=True)
    await logout(page)
    stored = await page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert await page.input_value("#username") == user.id_number
    assert await page.is_checked("#remember-id")
    assert await page.is_visible("#forget-id")
    assert PASSWORD not in stored and user.id_number in stored
    assert await page.evaluate("document.activeElement.id") == "password"
    await shot(page, "login-remembered-1366")

    # Unticking at the next login forgets it.
    await login_ticked(page, live_svc.redis, user.id_number, remember=False)
    await logout(page)
    assert await page.input_value("#username") == ""
    assert await page.evaluate("localStorage.length") == 0

    # 清除 forgets it at once, without logging in.
    await login_ticked(page, live_svc.redis, user.id_number, remember=True)
    await logout(page)
    await page.click("#forget-id")
    assert await page.input_value("#username") == ""
    assert not await page.is_checked("#remember-id")
    assert "已清除" in await page.inner_text("#remember-msg")
    assert await page.evaluate("localStorage.length") == 0


async def test_staff__an_admin_lands_on_the_admin_page_with_a_tour_of_their_own(page, live_svc):
    admin = await Factory(live_svc).user(roles=("admin",), name="王管理")
    await browser_login(page, live_svc.redis, admin.id_number, PASSWORD, keep_tour=True)

    assert page.url.endswith("/admin")
    tour = page.locator("#tour .tour-card")
    await tour.wait_for(state="visible")
    texts = []
    while True:
        texts.append(await page.locator(".tour-step:not([hidden])").inner_text())
        if await page.inner_text('[data-tour="next"]') == "开始使用":
            break
        await page.click('[data-tour="next"]')
    await shot(page, "staff-tour-admin-1366")
    async with page.expect_response("**/api/tour/done"):
        await page.click('[data-tour="next"]')
    await tour.wait_for(state="detached")

    assert len(texts) == 4
    assert "管理培训批次" in texts[3]
    assert not any("照片" in t or "我的课程" in t for t in texts)
    await page.goto("/profile")
    assert await page.locator("#photo-tool").count() == 0
    assert await page.locator("#tour").count() == 0
