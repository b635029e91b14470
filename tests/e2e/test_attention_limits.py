"""What a learner sees of the attention-check limits, in Chromium with the site's
Content-Security-Policy enforced (the `pages` fixture fails on any violation or error): three wrong codes pause the credit with the reason in
Chinese and a countdown; an oversized answer is refused with a reason; a learner an admin
excused (through the 学员档案 page) studies without checks."""

from __future__ import annotations

import pytest

from app.learning import attention
from app.learning.models import CourseKind
from tests.e2e.conftest import browser_login, shot
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


async def play(page) -> None:
    await page.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )


async def nonce_shown(page, other_than: str = "") -> str:
    """The nonce of the code image shown, once it has loaded (as a person reads it before
    typing: answering earlier retires the code while the image is still being fetched, and
    the page's request for it ends in a 404)."""
    await page.wait_for_function(
        """(old) => {
            const img = document.getElementById('attention-img');
            return !document.getElementById('attention').hidden && img.getAttribute('src')
                && !img.getAttribute('src').includes(old || '\\u0000')
                && img.complete && img.naturalWidth > 0;
        }""",
        arg=other_than,
        timeout=15_000,
    )
    src = await page.get_attribute("#attention-img", "src")
    return src.rsplit("/", 1)[1].removesuffix(".png")


async def text_of(page, selector: str, contains: str) -> str:
    await page.wait_for_function(
        "([s, t]) => { const el = document.querySelector(s); return !!el && el.textContent.includes(t); }",
        arg=[selector, contains],
    )
    return await page.text_content(selector)


async def learner_with_a_check_due(live_svc, clock):
    """A learner whose one-minute check is owed: 58 s of play elsewhere, then one more beat."""
    learning = Learning(live_svc, Factory(live_svc))
    cat = await learning.batch(
        courses=[("长课程", CourseKind.PUBLIC, True, [600, 600], None)],
        attention_min_minutes=1,
        attention_max_minutes=1,
    )
    user = await Factory(live_svc).user(name="李专注", password=PASSWORD)
    await learning.factory.enrol(user.id, cat.batch.id)
    first, second = cat.videos[cat.courses[0].id]
    earlier = Player(live_svc, clock, user, second.id)
    await earlier.start()
    for _ in range(4):
        await earlier.play(14.5)
    return user, first.id, earlier


async def test_attention__three_wrong_codes_pause_the_credit_and_the_page_says_why(
    page, live_svc, clock
):
    user, video_id, _ = await learner_with_a_check_due(live_svc, clock)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto(f"/courses/video/{video_id}")
    assert "连续 3 次输入错误将暂停计时 5 分钟" in await page.text_content("#rules")
    await play(page)
    nonce = await nonce_shown(page)

    for left in (2, 1):
        await page.fill("#attention-code", "0000")
        await page.press("#attention-code", "Enter")
        nonce = await nonce_shown(page, other_than=nonce)
        assert f"还可输入 {left} 次" in await page.text_content("#attention-msg")
    await page.fill("#attention-code", "0000")
    await page.click("#attention-submit")

    message = await text_of(page, "#attention-text", "验证码连续 3 次输入错误")
    assert message.startswith("验证码连续 3 次输入错误，暂停计时 5 分钟：暂停期间的学习时长不计入")
    assert await page.is_hidden("#attention-row") and await page.is_hidden("#attention-retry")
    assert "暂停剩余" in await text_of(page, "#attention-left", "秒")
    assert "暂停计时中" in await page.text_content("#study-state")
    assert "读屏软件" in await page.text_content("#attention-help")
    await shot(page, "attention-locked-1366")
    await play(page)  # nothing plays during the pause
    assert await page.evaluate("() => document.getElementById('study-video').paused")
    await page.set_viewport_size({"width": 375, "height": 812})
    await shot(page, "attention-locked-375")
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

    # Back after the pause: the next check comes with the first beat, and a right code
    # lets credit come again.
    await page.set_viewport_size({"width": 1366, "height": 768})
    clock.advance(seconds=attention.PAUSE_S + 1)
    await page.goto(f"/courses/video/{video_id}")
    await play(page)
    nonce = await nonce_shown(page, other_than=nonce)
    await page.fill("#attention-code", await challenge_code(live_svc, nonce))
    await page.click("#attention-submit")
    await page.wait_for_selector("#attention", state="hidden")
    await text_of(page, "#study-msg", "验证通过")


async def test_attention__an_oversized_answer_is_refused_with_a_reason_the_page_shows(
    pages, page, live_svc, clock
):
    pages.expect(413, "/api/study/answer")  # the HTTP fallback refuses it, with a reason
    user, video_id, _ = await learner_with_a_check_due(live_svc, clock)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto(f"/courses/video/{video_id}")
    await play(page)
    nonce = await nonce_shown(page)

    # A tampered page: no maxlength, 200,000 characters. The socket closes on a frame over
    # its 64 KB limit; the page sends the answer over HTTP instead, which says why.
    await page.evaluate(
        "() => document.getElementById('attention-code').removeAttribute('maxlength')"
    )
    await page.fill("#attention-code", "A" * 200_000)
    await page.click("#attention-submit")
    message = await text_of(page, "#attention-msg", "验证码过长")
    await shot(page, "attention-too-long-1366")

    # The check is still open and still takes a right code.
    await page.fill("#attention-code", await challenge_code(live_svc, nonce))
    await page.click("#attention-submit")
    await page.wait_for_selector("#attention", state="hidden")
    assert "请只输入图中的 4 个字符" in message


async def test_attention__an_exempt_learner_studies_without_checks(pages, page, live_svc, clock):
    admin_page = page
    user, video_id, earlier = await learner_with_a_check_due(live_svc, clock)
    owed = await earlier.play(14.5)
    admin = await Factory(live_svc).user(roles=("admin",), name="王管理", password=PASSWORD)
    await browser_login(admin_page, live_svc.redis, admin.id_number, PASSWORD)

    await admin_page.goto(f"/admin/learners/{user.id}")
    await admin_page.fill("#attention-reason", "视力障碍，使用读屏软件学习")
    questions = []

    async def confirm(dialog):
        questions.append(dialog.message)
        await dialog.accept()

    admin_page.once("dialog", confirm)
    await admin_page.click("#attention-exempt")
    done = await text_of(admin_page, "#done-msg", "已免除")
    assert "视力障碍，使用读屏软件学习" in await admin_page.text_content("#attention-state")
    assert "免除防挂机验证" in await admin_page.text_content("#history")
    await shot(admin_page, "attention-exempt-admin-1366")

    page = await pages.new(phone=True)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto(f"/courses/video/{video_id}")
    rules = await page.text_content("#rules")
    await play(page)
    await page.wait_for_function(
        "() => parseInt(document.getElementById('credited').textContent.match(/\\d+/)[0]) >= 4",
        timeout=15_000,
    )
    await shot(page, "attention-exempt-learner-375")
    hidden = await page.is_hidden("#attention")
    wide = await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

    assert questions == ["确定免除 李专注 的防挂机验证吗？"]
    assert "challenge" in owed and "立即生效" in done
    assert "验证码" not in rules and hidden and wide
