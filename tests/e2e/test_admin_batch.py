"""An admin runs a batch from the UI alone: creates the batch and a course, uploads a real
MP4 (in chunks, with a progress bar), imports questions, sets the exam policy and enrols a
learner; the learner then sees the course, plays the video and earns credit. Every admin
page is photographed at 1366×768 along the way."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time

import pytest
from sqlalchemy import select, update

from app.accounts.models import User
from app.clock import SHANGHAI, FrozenClock
from app.learning.models import Video
from devtools.demo.exams import DEMO_FILE
from tests.admin.media import make_video
from tests.conftest import START
from tests.e2e.conftest import browser_login, shot
from tests.factories import Factory

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffmpeg")
ADMIN_PASSWORD = "Guanli#2026-Test"
LEARNER_PASSWORD = "Xuexi-Anquan-66"
BATCH = "注册安全工程师继续教育 2026年第三期"


class TickingClock(FrozenClock):
    """Follows real time from START: the browser plays in real time, so must the server."""

    def __init__(self) -> None:
        super().__init__(START)
        self._t0 = time.monotonic()

    def now(self):
        return self._now + dt.timedelta(seconds=time.monotonic() - self._t0)


@pytest.fixture
def clock():
    return TickingClock()


@pytest.fixture
async def config(config):
    config.study_beat_seconds = 2  # beats every 2 s keep the test short
    return config


def local(days: int) -> str:
    return (START + dt.timedelta(days=days)).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def test_admin__runs_a_batch_and_the_learner_earns_credit(
    pages, page, live_svc, worker, tmp_path
):
    factory = Factory(live_svc)
    admin = await factory.user(roles=("admin",), name="王管理", password=ADMIN_PASSWORD)
    learner = await factory.user(name="张学员", work_unit="天津港集团", password=LEARNER_PASSWORD)
    async with live_svc.db.write() as db:
        await db.execute(update(User).where(User.id == learner.id).values(tour_done=True))
    mp4 = make_video(tmp_path / "第1讲 安全生产法修订要点.mp4", seconds=20)

    await browser_login(page, live_svc.redis, admin.id_number, ADMIN_PASSWORD)
    await shot(page, "admin-10-home")

    # 1. The batch, with a bad value first: refused next to its field, nothing saved.
    await page.click(".admin-nav >> text=批次管理")
    await shot(page, "admin-11-batches-empty")
    await page.click("#new-batch")
    await page.fill("#f-name", BATCH)
    await page.click("#tier-presets >> text=16 学时")
    assert await page.input_value("#f-required_minutes") == "640"
    await page.fill("#f-required_minutes", "10")
    await page.fill("#f-required_public_minutes", "5")
    await page.fill("#f-min_study_days", "1")
    await page.fill("#f-study_deadline", local(30))
    await page.fill("#f-exam_opens_at", local(1))
    await page.fill("#f-exam_closes_at", local(20))
    pages.expect(400, "/admin/batches/new")  # the form again, with the reason
    await page.click("#batch-save")
    assert "考试结束时间不能早于学习截止时间" in await page.inner_text("#err-exam_closes_at")
    await shot(page, "admin-12-batch-refused")
    await page.fill("#f-exam_closes_at", local(40))
    await page.click("#batch-save")
    await page.wait_for_url(re.compile(r"/admin/batches/\d+\?done=created"))
    batch_url = page.url.split("?")[0]
    assert "批次已建立" in await page.inner_text("#done-msg")

    # 2. A course, and a real MP4 uploaded in chunks.
    await page.click("#add-course")
    await page.fill("#f-name", "安全生产法律法规新要求解读")
    await page.fill("#f-lecturer", "刘建国")
    await page.check("#f-required")
    await shot(page, "admin-13-course-new")
    await page.click("#course-save")
    await page.wait_for_url(re.compile(r"/admin/courses/\d+\?done=created"))
    await page.fill("#video-title", "《安全生产法》修订要点")
    await page.set_input_files("#video-file", str(mp4))
    await page.wait_for_url(re.compile(r"/admin/courses/\d+\?done=video"), timeout=60_000)
    row = page.locator("#video-table tbody tr").first
    assert "《安全生产法》修订要点" in await row.locator("input[name=title]").input_value()
    assert await row.locator("td.mono").inner_text() == "00:20"
    poster = row.locator("img.poster")
    assert await poster.evaluate("img => img.complete && img.naturalWidth") == 320
    await shot(page, "admin-14-course-with-video")

    # 3. A question bank, imported from the sample file with its per-row report.
    await page.click(".admin-nav >> text=题库管理")
    await page.fill("#f-name", "2026年继续教育题库")
    await page.click("#bank-create")
    await page.set_input_files("#import-file", str(DEMO_FILE))
    await page.click("#import-submit")
    await page.locator("#import-report").wait_for()
    assert "成功导入 136 道" in await page.inner_text("#import-report")
    await shot(page, "admin-15-bank-imported")
    await page.select_option("#filter-type", "multiple")
    await page.click("#filter-btn")
    await shot(page, "admin-16-bank-multiple")
    await page.locator("#question-table tbody tr a").first.click()
    await page.locator("#preview").wait_for()
    await shot(page, "admin-17-question")

    # 4. The exam policy: one the bank cannot fill is refused with what is short.
    await page.goto(batch_url + "#policy")
    bank = page.locator("#f-bank_id option", has_text="2026年继续教育题库")
    assert "多选 24" in await bank.inner_text()
    await page.select_option("#f-bank_id", await bank.get_attribute("value"))
    await page.fill("#f-multiple_count", "30")
    pages.expect(400, "/admin/batches/*/policy")
    await page.click("#policy-save")
    assert "多选题需要 30 道，题库中只有 24 道" in await page.inner_text("#err-multiple_count")
    await page.fill("#f-multiple_count", "10")
    await page.fill("#f-focus_warn_at", "3")
    await page.fill("#f-focus_submit_at", "5")
    await page.click("#policy-save")
    await page.wait_for_url(re.compile(r"done=policy"))
    assert "考试规则已保存" in await page.inner_text("#done-msg")
    assert "试卷共 70 题，总分 100 分" in await page.inner_text("#policy-total")

    # 5. Enrol the learner by ID number.
    await page.fill("#f-id_numbers", learner.id_number)
    await page.click("#enrol-submit")
    assert "新报名 1 人" in await page.inner_text("#enrol-report")
    await shot(page, "admin-18-batch")

    # 6. The learner sees the course, plays the video and earns credit.
    student = await pages.new()
    await browser_login(student, live_svc.redis, learner.id_number, LEARNER_PASSWORD)
    await student.goto("/courses")
    course_row = student.locator("#course-table tbody tr").first
    assert "安全生产法律法规新要求解读" in await course_row.inner_text()
    await course_row.get_by_role("link", name="开始学习").click()
    await student.wait_for_url(re.compile(r"/courses/video/\d+$"))
    assert await student.get_attribute("#study-video", "poster")
    await student.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )
    await student.wait_for_function(
        "() => parseInt((document.getElementById('credited').textContent.match(/\\d+/) || ['0'])[0]) >= 4",
        timeout=30_000,
    )
    await shot(student, "admin-19-learner-playing")
    await student.evaluate("document.getElementById('study-video').pause()")
    await student.context.close()

    # 7. The admin sees it on the learner record and in the report.
    await page.goto(f"/admin/learners/{learner.id}")
    await page.wait_for_function("() => !!document.querySelector('#courses-1, [id^=courses-]')")
    await shot(page, "admin-20-learner-record")
    await page.goto("/admin/reports")
    assert await page.locator(".chart[data-rendered='1']").count() == 2
    await shot(page, "admin-21-report-progress")
    await page.click("#tab-results")
    await shot(page, "admin-22-report-results")
    await page.click("#export-progress")
    await page.locator("#export-download").wait_for(timeout=20_000)
    await shot(page, "admin-23-export-done")
    await page.click(".admin-nav >> text=操作日志")
    assert "上传视频" in await page.inner_text("#audit-table")
    await shot(page, "admin-24-audit")
    # The remaining admin pages, photographed for review.
    for path, name in [
        ("/admin/batches", "admin-25-batches"),
        ("/admin/batches/new", "admin-26-batch-new"),
        ("/admin/courses", "admin-27-courses"),
        ("/admin/banks", "admin-28-banks"),
        ("/admin/learners", "admin-29-learners"),
        ("/admin/learners/new", "admin-30-learner-new"),
        ("/admin/reports?tab=difficulty", "admin-31-report-difficulty"),
        ("/admin", "admin-32-home"),
    ]:
        await page.goto(path)
        await page.evaluate("window.scrollTo(0, 0)")
        await shot(page, name)
    async with live_svc.db.read() as db:
        video = await db.scalar(select(Video))
    assert abs(video.duration_ms - 20_000) < 200 and video.poster
