"""The demo learner studies in a real browser: the video plays, the server credits beats,
progress shows on 我的课程; a second tab takes over and the first one says why."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from sqlalchemy import select, update

from app.accounts.models import User
from app.clock import FrozenClock
from app.learning.models import Batch, Enrolment
from app.learning.study import CREDITS_STREAM
from devtools import demo
from tests.conftest import START
from tests.e2e.conftest import browser_login, shot
from tests.factories import Factory

PASSWORD = "Xuexi-Anquan-66"


class TickingClock(FrozenClock):
    """Follows real time from START: the browser plays in real time, so must the server."""

    def __init__(self) -> None:
        super().__init__(START)
        self._t0 = time.monotonic()

    def now(self):
        import datetime as dt

        return self._now + dt.timedelta(seconds=time.monotonic() - self._t0)


@pytest.fixture
def clock():
    return TickingClock()


@pytest.fixture
async def config(config):
    config.study_beat_seconds = 2  # beats every 2 s keep the test short
    return config


async def demo_learner(svc):
    """A learner like the demo one (password already changed, tour seen) in the demo batch."""
    await demo.seed(svc)
    user = await Factory(svc).user(name="张安全", password=PASSWORD)
    async with svc.db.write() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == demo.BATCH_NAME))
        db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=svc.now()))
        await db.execute(update(User).where(User.id == user.id).values(tour_done=True))
    return user


async def credits_written(redis) -> None:
    """Wait until the server's flusher has written every acknowledged credit to the
    database (it deletes each stream entry once committed: docs/realtime.md)."""
    async with asyncio.timeout(10):
        while await redis.xlen(CREDITS_STREAM):
            await asyncio.sleep(0.05)


async def credited_seconds(page) -> int:
    text = await page.text_content("#credited")
    return int(re.search(r"(\d+)", text).group(1))


async def test_study__video_plays_beats_are_credited_and_progress_shows(page, live_svc):
    user = await demo_learner(live_svc)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)

    await page.goto("/courses")
    first_row = page.locator("#course-table tbody tr").first
    assert await first_row.locator("td").nth(6).text_content() == "未开始"
    await shot(page, "study-courses-before-1366")
    await first_row.get_by_role("link", name="开始学习").click()
    await page.wait_for_url(re.compile(r"/courses/video/\d+$"))

    await page.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )
    await page.wait_for_function(
        "() => /\\d/.test(document.getElementById('credited').textContent) && "
        "parseInt(document.getElementById('credited').textContent.match(/\\d+/)[0]) >= 4",
        timeout=20_000,
    )
    assert "正在计时" in await page.text_content("#study-state")
    await shot(page, "study-video-playing-1366")

    # A second tab playing a video ends this page's session, and this page says why.
    other = await page.context.new_page()
    await other.goto(page.url)
    await other.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )
    await page.wait_for_function(
        "() => document.getElementById('study-msg').textContent.includes('其他页面或设备')"
    )
    assert await page.evaluate("document.getElementById('study-video').paused")
    assert await page.text_content("#study-state") == "已停止计时"
    await shot(page, "study-video-replaced-1366")
    await other.evaluate("document.getElementById('study-video').pause()")
    await other.close()

    # 我的课程 reads the database, which trails the acknowledged beats by a flusher cycle.
    await credits_written(live_svc.redis)
    await page.goto("/courses")
    row = page.locator("#course-table tbody tr").first
    percent = int((await row.locator(".pct").text_content()).rstrip("%"))
    assert 2 <= percent < 100
    assert await row.locator("td").nth(6).text_content() == "学习中"
    assert await row.get_by_role("link", name="继续学习").is_visible()
    assert "1 / 10 天" in await page.text_content("#batch-head")
    await shot(page, "study-courses-after-1366")

    await page.set_viewport_size({"width": 375, "height": 812})
    await shot(page, "study-courses-375")
    await row.get_by_role("link", name="继续学习").click()
    await page.wait_for_url(re.compile(r"/courses/video/\d+$"))
    await page.wait_for_function(
        "() => document.getElementById('study-msg').textContent.includes('继续')"
    )
    resume = await page.evaluate("document.getElementById('study-video').currentTime")
    assert resume >= 4
    await shot(page, "study-video-375")
