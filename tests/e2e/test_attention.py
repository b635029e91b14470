"""An attention check in a real browser: the server asks, the page pauses the video and
shows the code image; a wrong code draws a new one, a late answer is refused with the
reason, and a right one lets play (and credit) go on."""

from __future__ import annotations

import pytest

from app.learning.models import CourseKind
from tests.e2e.conftest import browser_login, shot
from tests.e2e.test_attention_limits import nonce_shown, play
from tests.e2e.test_study import PASSWORD, TickingClock
from tests.factories import Factory
from tests.learning.conftest import Learning, Player, challenge_code


@pytest.fixture
def clock():
    return TickingClock()


@pytest.fixture
async def config(config):
    config.study_beat_seconds = 2
    return config


async def test_attention__the_page_pauses_shows_the_code_and_goes_on_once_answered(
    page, live_svc, clock
):
    learning = Learning(live_svc, Factory(live_svc))
    cat = await learning.batch(
        courses=[("长课程", CourseKind.PUBLIC, True, [600, 600], None)],
        attention_min_minutes=1,
        attention_max_minutes=1,
    )
    user = await Factory(live_svc).user(name="李专注", password=PASSWORD)
    await learning.factory.enrol(user.id, cat.batch.id)
    first, second = cat.videos[cat.courses[0].id]
    # 58 s of play elsewhere first: the one-minute check falls due during this page's play.
    earlier = Player(live_svc, clock, user, second.id)
    await earlier.start()
    for _ in range(4):
        await earlier.play(14.5)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)

    await page.goto(f"/courses/video/{first.id}")
    await play(page)
    nonce = await nonce_shown(page)
    await page.wait_for_function("() => document.getElementById('study-video').paused")
    html = await page.content()
    code = await challenge_code(live_svc, nonce)
    loaded = await page.evaluate("document.getElementById('attention-img').naturalWidth")
    assert code not in html and loaded == 120
    assert "60 秒内输入图中的字符" in await page.text_content("#attention-text")
    assert await page.evaluate("document.activeElement.id") == "attention-code"
    assert "请先完成验证" in await page.text_content("#study-state")
    await shot(page, "study-attention-1366")

    # Playing again is not possible while the check is open.
    await play(page)
    assert await page.evaluate("document.getElementById('study-video').paused")

    # A wrong code: the held credit is dropped and a new code is drawn.
    await page.fill("#attention-code", "0000")
    await page.press("#attention-code", "Enter")
    await page.wait_for_function(
        "(n) => !document.getElementById('attention-img').src.includes(n)", arg=nonce
    )
    assert "验证码错误" in await page.text_content("#attention-msg")
    nonce = await nonce_shown(page)

    # Too late: the server refuses, the page says why and offers a new code.
    clock.advance(seconds=61)
    await page.fill("#attention-code", await challenge_code(live_svc, nonce))
    await page.click("#attention-submit")
    await page.wait_for_selector("#attention-retry", state="visible")
    assert "验证已超时" in await page.text_content("#attention-text")
    await shot(page, "study-attention-expired-1366")
    await page.click("#attention-retry")
    await page.wait_for_function(
        "(n) => !document.getElementById('attention-img').src.includes(n)", arg=nonce
    )
    assert "未在规定时间内完成" in await page.text_content("#study-msg")
    nonce = await nonce_shown(page)

    # The right code: the dialog goes, the video plays and credit comes again.
    await page.fill("#attention-code", (await challenge_code(live_svc, nonce)).lower())
    await page.click("#attention-submit")
    await page.wait_for_selector("#attention", state="hidden")
    assert "验证通过" in await page.text_content("#study-msg")
    await page.wait_for_function("() => !document.getElementById('study-video').paused")
    await page.wait_for_function(
        "() => parseInt(document.getElementById('credited').textContent.match(/\\d+/)[0]) >= 2",
        timeout=15_000,
    )

    await page.set_viewport_size({"width": 375, "height": 812})
    await page.evaluate("document.getElementById('study-video').pause()")
    # A minute of play elsewhere makes the next check due; a new page must answer it first.
    await earlier.start()
    for _ in range(5):
        await earlier.play(14.5)
    await page.goto(f"/courses/video/{first.id}")
    await play(page)
    await nonce_shown(page)
    await shot(page, "study-attention-375")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
