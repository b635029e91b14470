"""Every learner page on a 375 px phone: nothing scrolls sideways, tables become cards, the
header and every tab stay in reach; and the same pages at 1366×768 for comparison."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.certificates import issuing
from app.learning.models import Batch, Course, Enrolment, Video
from devtools import demo
from tests.certificates.conftest import Certs
from tests.e2e.conftest import browser_login, shot, view
from tests.factories import Factory

PASSWORD = "Str0ng-Pass!"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture
async def learner(live_svc, worker):
    """A learner of the demo batch with a passed and a failed attempt in another batch and
    an issued certificate: every learner page has something to show."""
    await demo.seed(live_svc)
    certs = Certs(live_svc, Factory(live_svc))
    user = await certs.learner(name="欧阳安全工程")
    earlier = await certs.batch(name="注册安全工程师继续教育 2025年第四期")
    await certs.attempt(user, passed=False, score=42.0, batch=earlier)
    passed = await certs.attempt(user, batch=earlier)
    async with live_svc.db.write() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == demo.BATCH_NAME))
        db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=live_svc.now()))
        video_id = await db.scalar(
            select(Video.id)
            .join(Course, Course.id == Video.course_id)
            .where(Course.batch_id == batch.id)
            .order_by(Course.position, Video.position)
        )
    await issuing.queue_certificates(live_svc, [passed.id])
    certificate = await certs.wait_for(passed.id, "issued")
    return user, video_id, certificate.number


async def within_viewport(page, selector: str) -> bool:
    return await page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                      return r.left >= 0 && r.right <= window.innerWidth; }""",
        selector,
    )


async def test_phone__no_learner_page_scrolls_sideways(pages, live_svc, learner):
    user, video_id, number = learner
    phone, computer = await pages.new(phone=True, user_agent=IPHONE), await pages.new()
    pages = [
        ("login", "/login"),
        ("verify", f"/verify/{number}"),
    ]
    for name, url in pages:
        for page, size in ((phone, "375"), (computer, "1366")):
            await page.goto(url)
            await shot(page, f"layout-{name}-{size}")
        assert await phone.evaluate(NO_SIDEWAYS), name

    await browser_login(phone, live_svc.redis, user.id_number, PASSWORD)
    await browser_login(computer, live_svc.redis, user.id_number, PASSWORD)
    pages = [
        ("password", "/password"),
        ("profile", "/profile"),
        ("courses", "/courses"),
        ("materials", "/courses?tab=materials"),
        ("video", f"/courses/video/{video_id}"),
        ("exams", "/exams"),
        ("records", "/exams/records"),
        ("certificates", "/certificates"),
        ("registration", "/registration"),
        ("registration-history", "/registration/history"),
    ]
    for name, url in pages:
        for page, size in ((phone, "375"), (computer, "1366")):
            await page.goto(url)
            await shot(page, f"layout-{name}-{size}")
        assert await phone.evaluate(NO_SIDEWAYS), f"{name} scrolls sideways at 375 px"
        assert await within_viewport(phone, ".user-menu summary"), name

        # Every tab, 考试记录 and 我的证书 included, is on screen without scrolling the bar.
        for label in ("我的资料", "我的课程", "我的考试", "考试记录", "我的证书"):
            tab = phone.locator("#tour-nav a", has_text=label)
            assert await tab.is_visible(), label
            box = await tab.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 375, label

    # Tables are cards on the phone: no header row, each cell labelled.
    for url, table in (
        ("/exams", "#exam-table"),
        ("/exams/records", "#records-table"),
        ("/certificates", "#certificate-table"),
    ):
        await phone.goto(url)
        assert not await phone.locator(f"{table} thead").is_visible(), table
        cell = phone.locator(f"{table} tbody td[data-label]").first
        label = await cell.evaluate("(td) => getComputedStyle(td, '::before').content")
        assert label.strip('"'), table
    await phone.goto("/courses")
    assert "考试须使用电脑参加" in await phone.locator("#exam-hint").inner_text()
    assert await phone.locator("#exam-button").count() == 0


async def test_computer__video_page_shows_the_credit_status_and_the_rate_refusal_in_view(
    page, live_svc, learner
):
    user, video_id, _ = learner
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    async with page.expect_websocket() as opened:
        await page.goto(f"/courses/video/{video_id}")
    socket = await opened.value

    await page.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )
    await page.wait_for_function(
        "() => document.getElementById('study-state').textContent.includes('正在计时')"
    )
    await page.evaluate("document.getElementById('study-video').playbackRate = 2")
    await page.wait_for_function(
        "() => document.getElementById('study-msg').textContent.includes('倍速播放不计学习时长')"
    )
    # The reply to the next beat leaves it shown (it used to wipe it before it was read).
    async with socket.expect_event("framereceived", lambda frame: "credited_s" in str(frame)):
        await page.evaluate("document.getElementById('study-video').pause()")
    await page.evaluate("0")  # the page has handled the reply
    assert "倍速播放不计学习时长" in await page.text_content("#study-msg")
    # What fits on a 1366×768 screen, without scrolling.
    await view(page, "study-video-rate-1366-view", top=False)

    for selector in ("#study-status", "#credited", "#study-msg"):
        bottom = await page.evaluate(
            "(sel) => document.querySelector(sel).getBoundingClientRect().bottom", selector
        )
        assert 0 < bottom <= 768, f"{selector} is below the fold ({bottom} px)"
    assert await page.evaluate("window.scrollY") == 0
    await page.evaluate("document.getElementById('study-video').pause()")
