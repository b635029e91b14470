"""A new learner's first visit, in a real browser: the foundation flow of issue 2."""

import asyncio
import contextlib
import io
import re

from PIL import Image, ImageDraw
from playwright.async_api import Error as PlaywrightError

from app.accounts.models import User
from app.messaging import read_outbox
from tests.e2e.conftest import browser_login, loaded_image_size, shot
from tests.factories import Factory

NEW_PASSWORD = "Anquan-Xuexi-88"


async def until_tour_done(svc, user_id: int) -> None:
    """Wait until the account records the tour as done (the page's request has landed)."""
    async with asyncio.timeout(10):
        while True:
            async with svc.db.read() as db:
                if (await db.get(User, user_id)).tour_done:
                    return
            await asyncio.sleep(0.05)


def large_photo(path) -> None:
    """A 900×1200 'portrait' on blue, bigger than allowed, for the in-browser cropper."""
    image = Image.new("RGB", (900, 1200), (67, 142, 219))
    draw = ImageDraw.Draw(image)
    draw.ellipse((300, 250, 600, 600), fill=(241, 200, 170))
    draw.rectangle((220, 650, 680, 1200), fill=(30, 40, 60))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    path.write_bytes(out.getvalue())


async def test_first_login__learner_changes_password_tours_binds_phone_and_uploads_photo(
    pages, page, live_svc, worker, tmp_path
):
    user = await Factory(live_svc).user(password=None, name="张安全", work_unit="天津某建设集团")
    await page.goto("/login")
    await shot(page, "01-login")
    await browser_login(page, live_svc.redis, user.id_number.lower(), user.id_number[-6:])
    assert page.url.endswith("/password")
    assert await page.locator(".alert.info").inner_text() == (
        "首次登录请先修改初始密码，修改后才能使用系统的其他功能。请牢记新密码。"
    )
    await shot(page, "02-change-password")

    await page.goto("/profile")  # anything else leads back to the password form
    assert page.url.endswith("/password")
    await page.fill("#old_password", user.id_number[-6:])
    await page.fill("#new_password", "12345678")
    await page.fill("#confirm_password", "12345678")
    pages.expect(400, "/password")  # the form again, saying why
    await page.click("#password-submit")
    assert "过于常见" in await page.locator(".alert.error").inner_text()
    await page.fill("#old_password", user.id_number[-6:])
    await page.fill("#new_password", NEW_PASSWORD)
    await page.fill("#confirm_password", NEW_PASSWORD)
    await page.click("#password-submit")
    await page.click("#continue")
    assert page.url.endswith("/profile")

    tour = page.locator("#tour .tour-card")
    await tour.wait_for(state="visible")
    await shot(page, "03-tour")
    for _ in range(2):
        await page.click('[data-tour="next"]')
    step3 = await page.locator(".tour-step:not([hidden])").inner_text()
    assert "随后开放" not in step3 and "在【我的课程】中观看课程视频" in step3
    await page.click('[data-tour="next"]')
    assert await page.locator('[data-tour="next"]').inner_text() == "开始使用"
    # Dismiss and go on at once, with the request that records the dismissal held back
    # until the next page has been rendered (a slow network, a busy server).
    release = asyncio.Event()
    held = []

    async def hold_the_first(route):
        if not held:
            held.append(route)
            await release.wait()
        with contextlib.suppress(PlaywrightError):  # its page may be gone by then
            await route.continue_()

    await page.route("**/api/tour/done", hold_the_first)
    await page.click('[data-tour="next"]')
    await page.goto("/profile")
    assert held, "the dismissal was not sent"
    assert await page.locator("#tour").count() == 0  # the next page honours the dismissal
    await until_tour_done(live_svc, user.id)  # and has it recorded on the account
    release.set()
    await page.unroute("**/api/tour/done")
    await page.reload()
    assert await page.locator("#tour, #tour-unsaved").count() == 0  # remembered

    assert (
        await page.locator("#p-id #id-text").inner_text()
        == user.id_number[:6] + "********" + user.id_number[-4:]
    )
    await page.fill("#phone", "13912345678")
    await page.click("#send-code")
    await page.wait_for_function(
        "() => document.getElementById('phone-msg').textContent.includes('已发送')"
    )
    async with asyncio.timeout(15):  # a guard: the worker sends it
        while not (texts := await read_outbox(live_svc.redis, "13912345678")):
            await asyncio.sleep(0.05)
    code = re.search(r"验证码为(\d{6})", texts[0]).group(1)
    assert "秒后重新获取" in await page.locator("#send-code").inner_text()
    await page.fill("#sms-code", code)
    await page.click("#bind-phone")
    await page.locator("#phone-bound").wait_for()
    assert "139****5678" in await page.locator("#phone-bound").inner_text()

    # Before a photo is chosen, only 选择照片 shows: no dashed box, slider or 确认上传.
    assert await page.locator("#photo-file").count() == 1
    for hidden in ("#cropper", "#crop-canvas", "#crop-zoom", "#photo-upload"):
        assert not await page.locator(hidden).is_visible(), hidden
    source = tmp_path / "portrait.jpg"
    large_photo(source)
    await page.set_input_files("#photo-file", str(source))
    await page.locator("#cropper").wait_for(state="visible")
    await page.locator("#crop-zoom").fill("130")
    await shot(page, "04-profile-cropper")
    await page.click("#photo-upload")
    assert await loaded_image_size(page, "#my-photo") == [295, 412]
    await shot(page, "05-profile-done")

    await page.set_viewport_size({"width": 375, "height": 812})
    await shot(page, "06-profile-phone")
