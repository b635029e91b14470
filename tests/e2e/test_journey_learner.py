"""A learner's whole journey from a fresh account, across every role it touches, in real
pages with the site's headers enforced (issue 19): the admin builds the batch (courses with
real uploaded videos, questions, exam policy, a 考场), imports the learner from Excel; the
learner's first login, password, tour, phone by SMS, photo through the cropper; two days of
study with an attention check answered; the exam watched by an invigilator (a message, extra
time); the certificate with the photo, downloaded and verified by its QR code; the admin's
report and Excel export count the pass. Days pass on the injectable clock.

Every page opened is checked by axe-core and photographed (`look`), learner pages on a
phone too."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess

import pypdf
import pytest
from openpyxl import load_workbook

from app.exams.models import Attempt
from app.messaging import read_outbox
from devtools.demo.exams import DEMO_FILE
from tests.admin.conftest import person_id, xlsx
from tests.admin.media import make_video
from tests.certificates.conftest import Certs
from tests.e2e.conftest import SCREENSHOTS, answers_saved, browser_login, choose, look
from tests.e2e.test_admin_batch import local
from tests.e2e.test_photo import portrait
from tests.e2e.test_study import TickingClock, credits_written
from tests.exams.conftest import Exams
from tests.factories import Factory
from tests.learning.conftest import challenge_code

pytestmark = pytest.mark.skipif(
    not (shutil.which("ffmpeg") and shutil.which("zbarimg")), reason="needs ffmpeg and zbar-tools"
)
ADMIN_PASSWORD = "Guanli#2026-Test"
STAFF_PASSWORD = "Jiankao#2026-Test"
NEW_PASSWORD = "Anquan-Xuexi-88"
BATCH = "注册安全工程师继续教育 2026年第二期"
PHONE = "13912345678"
COURSES = [  # name, lecturer, 公共课, video title, seconds (each counts as one minute)
    ("安全生产法律法规新要求解读", "刘建国", True, "《安全生产法》修订要点", 32),
    ("化工过程安全管理", "陈思远", False, "危险化学品重大危险源辨识", 45),
]


@pytest.fixture
def clock():
    return TickingClock()  # the browser plays in real time; days pass by `advance`


@pytest.fixture
async def config(config):
    config.study_beat_seconds = 2
    return config


async def play_through(page) -> None:
    """Play the page's video, muted as a browser allows without a gesture."""
    await page.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )


async def ended(page, *, timeout: int) -> None:
    await page.wait_for_function(
        "() => document.getElementById('study-video').ended", timeout=timeout
    )


async def admin_builds_the_batch(page, live_svc, tmp_path, learner_id: str, invigilator) -> str:
    """The admin's side before anyone studies; returns the batch page's URL."""
    await page.click(".admin-nav >> text=批次管理")
    await page.click("#new-batch")
    await look(page, "journey-learner-01-admin-batch-new")
    await page.fill("#f-name", BATCH)
    await page.fill("#f-required_minutes", "2")
    await page.fill("#f-required_public_minutes", "1")
    await page.fill("#f-min_study_days", "2")
    await page.fill("#f-study_deadline", local(20))
    await page.fill("#f-exam_opens_at", local(1))
    await page.fill("#f-exam_closes_at", local(30))
    await page.check("#f-attention_checks")
    await page.fill("#f-attention_min_minutes", "1")
    await page.fill("#f-attention_max_minutes", "1")
    await page.click("#batch-save")
    await page.wait_for_url(re.compile(r"/admin/batches/\d+\?done=created"))
    batch_url = page.url.split("?")[0]

    for name, lecturer, public, title, seconds in COURSES:
        await page.goto(batch_url)
        await page.click("#add-course")
        await page.fill("#f-name", name)
        await page.fill("#f-lecturer", lecturer)
        await page.select_option("#f-kind", "public" if public else "professional")
        await page.check("#f-required")
        await page.click("#course-save")
        await page.wait_for_url(re.compile(r"/admin/courses/\d+\?done=created"))
        video = make_video(tmp_path / f"{title}.mp4", seconds=seconds)
        await page.fill("#video-title", title)
        await page.set_input_files("#video-file", str(video))
        await page.wait_for_url(re.compile(r"/admin/courses/\d+\?done=video"), timeout=60_000)
    await look(page, "journey-learner-02-admin-course")

    await page.click(".admin-nav >> text=题库管理")
    await page.fill("#f-name", "2026年第二期题库")
    await page.click("#bank-create")
    await page.set_input_files("#import-file", str(DEMO_FILE))
    await page.click("#import-submit")
    await page.locator("#import-report").wait_for()
    await look(page, "journey-learner-03-admin-bank")

    # A short paper: 5 single ×10, 2 multiple ×15, 2 true/false ×10 = 100 points.
    await page.goto(batch_url)
    bank = page.locator("#f-bank_id option", has_text="2026年第二期题库")
    await page.select_option("#f-bank_id", await bank.get_attribute("value"))
    for field, value in {
        "single_count": "5",
        "multiple_count": "2",
        "judge_count": "2",
        "single_points": "10",
        "multiple_points": "15",
        "judge_points": "10",
        "pass_mark": "60",
        "duration_minutes": "30",
    }.items():
        await page.fill(f"#f-{field}", value)
    await page.click("#policy-save")
    await page.wait_for_url(re.compile(r"done=policy"))
    assert "试卷共 9 题，总分 100 分" in await page.inner_text("#policy-total")
    await look(page, "journey-learner-04-admin-batch")

    # The learner comes from the centre's Excel list; the worker imports it.
    sheet = tmp_path / "第二期学员名单.xlsx"
    sheet.write_bytes(xlsx([(learner_id.lower(), "张安全", "男", "天津某建设集团", BATCH)]))
    await page.click(".admin-nav >> text=导入学员")
    await look(page, "journey-learner-05-admin-import")
    await page.set_input_files("#import-file", str(sheet))
    await page.click("#import-submit")
    await page.locator("#import-counts").wait_for()
    assert await page.locator("#c-created").inner_text() == "1"
    await look(page, "journey-learner-06-admin-imported")

    # The 考场 on the second day, with its invigilator.
    await page.goto("/admin/exam-sessions")
    option = page.locator("#batch_id option", has_text=BATCH)
    await page.select_option("#batch_id", await option.get_attribute("value"))
    await page.fill("#name", "第一考场（上午场）")
    await page.fill("#starts_at", local(1))
    await page.fill("#ends_at", local(1).replace("T09:00", "T18:00"))
    await page.click("#create-session")
    await page.wait_for_selector("#admin-msg")
    row = page.locator("#admin-session-table tbody tr").first
    await row.locator("select").select_option(label=invigilator.name)
    await row.locator("button", has_text="指派").click()
    await page.wait_for_selector("#admin-msg")
    await look(page, "journey-learner-07-admin-sessions")
    return batch_url


async def first_visit(page, live_svc, tmp_path, id_number: str) -> None:
    """Initial password, forced change, the tour, the phone by SMS, the photo."""
    await page.goto("/login")
    await look(page, "journey-learner-10-login", phone=True)
    await browser_login(page, live_svc.redis, id_number, id_number[-6:], keep_tour=True)
    assert page.url.endswith("/password")
    await look(page, "journey-learner-11-change-password", phone=True)
    await page.fill("#old_password", id_number[-6:])
    await page.fill("#new_password", NEW_PASSWORD)
    await page.fill("#confirm_password", NEW_PASSWORD)
    await page.click("#password-submit")
    await look(page, "journey-learner-12-password-changed", phone=True)
    await page.click("#continue")
    await page.locator("#tour .tour-card").wait_for(state="visible")
    await look(page, "journey-learner-13-tour", phone=True)
    while await page.locator('[data-tour="next"]').inner_text() != "开始使用":
        await page.click('[data-tour="next"]')
    async with page.expect_response("**/api/tour/done"):
        await page.click('[data-tour="next"]')

    await page.fill("#phone", PHONE)
    await page.click("#send-code")
    await page.locator("#phone-msg", has_text="已发送").wait_for()
    async with asyncio.timeout(15):  # a guard: the worker sends it
        while not (texts := await read_outbox(live_svc.redis, PHONE)):
            await asyncio.sleep(0.05)
    await page.fill("#sms-code", re.search(r"验证码为(\d{6})", texts[0]).group(1))
    await page.click("#bind-phone")
    await page.locator("#phone-bound").wait_for()

    source = tmp_path / "portrait.jpg"
    portrait(source)
    await page.set_input_files("#photo-file", str(source))
    await page.locator("#cropper").wait_for(state="visible")
    await look(page, "journey-learner-14-profile-cropper", phone=True)
    await page.click("#photo-upload")
    await page.locator("#my-photo").wait_for()
    await look(page, "journey-learner-15-profile-done", phone=True)


async def study_one_course(page, live_svc, row: int, name: str, *, attention: bool) -> None:
    """From 我的课程, play the course's only video to its end; answer the check if asked."""
    await page.goto("/courses")
    course = page.locator("#course-table tbody tr").nth(row)
    assert name in await course.inner_text()
    await course.get_by_role("link", name="开始学习").click()
    await page.wait_for_url(re.compile(r"/courses/video/\d+$"))
    await page.locator("#study-state", has_text="已连接").wait_for()
    await play_through(page)
    await page.locator("#study-state", has_text="正在计时").wait_for()
    if attention:
        await page.locator("#attention").wait_for(state="visible", timeout=60_000)
        await look(page, "journey-learner-21-attention", phone=True)
        nonce = (await page.get_attribute("#attention-img", "src")).rsplit("/", 1)[1][:-4]
        await page.fill("#attention-code", await challenge_code(live_svc, nonce))
        await page.click("#attention-submit")
        await page.locator("#attention").wait_for(state="hidden")
        await page.locator("#study-msg", has_text="验证通过").wait_for()
    await ended(page, timeout=90_000)
    await page.locator("#video-pct", has_text="100%").wait_for(timeout=15_000)
    await credits_written(live_svc.redis)


async def test_journey__learner_from_excel_import_to_verified_certificate(
    pages, live_server, live_svc, worker, tmp_path, clock
):
    live_svc.config.public_url = live_server.base_url  # the QR code points at this server
    factory = Factory(live_svc)
    admin = await factory.user(roles=("admin",), name="王管理", password=ADMIN_PASSWORD)
    invigilator = await factory.user(roles=("invigilator",), name="李监考", password=STAFF_PASSWORD)
    id_number = person_id("男")
    staff = await pages.new()
    await browser_login(staff, live_svc.redis, admin.id_number, ADMIN_PASSWORD)
    await look(staff, "journey-learner-00-admin-home")
    await admin_builds_the_batch(staff, live_svc, tmp_path, id_number, invigilator)

    # Day 1: the learner's first visit and the first course.
    me = await pages.new()
    await first_visit(me, live_svc, tmp_path, id_number)
    await me.goto("/courses")
    await look(me, "journey-learner-16-courses-new", phone=True)
    await me.goto("/exams")
    assert "学习天数 0/2" in await me.inner_text("#exam-table")
    await look(me, "journey-learner-17-exams-not-yet", phone=True)
    await study_one_course(me, live_svc, 0, COURSES[0][0], attention=False)
    await look(me, "journey-learner-20-video-done", phone=True)

    # Day 2: the second course; a minute of play in all, so the attention check comes.
    clock.advance(days=1)
    await browser_login(me, live_svc.redis, id_number, NEW_PASSWORD)  # yesterday's has ended
    await study_one_course(me, live_svc, 1, COURSES[1][0], attention=True)
    await me.goto("/courses")
    assert "2 / 2 天" in await me.inner_text("#batch-head")
    await look(me, "journey-learner-22-courses-complete", phone=True)

    # The exam, in the 考场 the invigilator watches.
    proctor = await pages.new()
    await browser_login(proctor, live_svc.redis, invigilator.id_number, STAFF_PASSWORD)
    assert proctor.url.endswith("/invigilate")
    await look(proctor, "journey-learner-30-invigilator-sessions")
    await proctor.locator("[id^=enter-]").first.click()
    await proctor.wait_for_selector('#live-state[data-state="live"]')

    await me.goto("/exams")
    await look(me, "journey-learner-31-exams-eligible", phone=True)
    await me.locator(".start-exam").first.click()
    await me.check("#start-agree")
    await look(me, "journey-learner-32-exam-start")
    await me.click("#start-confirm")
    await me.wait_for_url("**/exams/attempts/*")
    await answers_saved(me)
    exams = Exams(live_svc, factory)
    async with live_svc.db.read() as db:
        attempt = await db.get(Attempt, int(me.url.rsplit("/", 1)[1]))
    key = await exams.key(attempt)
    for qid, value in list(key.items())[:3]:
        await choose(me, qid, value)
    await answers_saved(me)
    await look(me, "journey-learner-33-exam-answering")

    row = proctor.locator("tr.row", has_text="张安全")
    await row.wait_for()
    await proctor.locator("tr.row", has_text="3/9").wait_for()
    await look(proctor, "journey-learner-34-dashboard")
    await row.click()
    await proctor.click("#act-message")
    await proctor.fill("#act-text", "请保持坐姿端正，不要离开考试页面。")
    await proctor.click("#act-confirm")
    await me.locator("#proctor-banner").wait_for(state="visible")
    assert "请保持坐姿端正" in await me.inner_text("#banner-text")
    await look(me, "journey-learner-35-exam-message")
    await me.click("#banner-ok")
    before = await me.inner_text("#countdown")
    await proctor.click("#act-extend")
    await proctor.fill("#act-minutes", "10")
    await proctor.fill("#act-reason", "网络故障，耽误了作答时间")
    await look(proctor, "journey-learner-36-extend")
    await proctor.click("#act-confirm")
    await me.locator("#exam-notice").wait_for(state="visible")
    assert int(before.split(" ")[0]) < 30
    await me.locator("#countdown", has_text=re.compile(r"^3\d 分")).wait_for()
    await look(me, "journey-learner-37-exam-extended")

    for qid, value in list(key.items())[3:]:
        await choose(me, qid, value)
    await answers_saved(me)
    await me.click("#submit-btn")
    await me.locator("#confirm-dialog").wait_for(state="visible")
    await me.click("#confirm-submit")
    await me.locator("#result-dialog").wait_for(state="visible")
    assert "恭喜您！您的考试成绩为 100 分，考试合格！" in await me.inner_text("#result-text")
    await look(me, "journey-learner-38-exam-passed")
    await proctor.locator("tr.row", has_text="已交卷").wait_for()
    await look(proctor, "journey-learner-39-dashboard-done")

    # The certificate: the worker renders it with the photo; downloaded, then verified.
    await me.click("#go-records")
    await me.wait_for_url("**/exams/records")
    await look(me, "journey-learner-40-records", phone=True)
    await me.locator("[id^=certificate-link-]").first.click()
    await me.wait_for_url("**/certificates")
    certificate = await Certs(live_svc, factory).wait_for(attempt.id, "issued", timeout=60)
    await me.reload()
    await look(me, "journey-learner-41-certificates", phone=True)
    async with me.expect_download() as info:
        await me.click(f"#download-{attempt.id}")
    pdf_path = tmp_path / "certificate.pdf"
    await (await info.value).save_as(pdf_path)
    page_one = pypdf.PdfReader(io.BytesIO(pdf_path.read_bytes())).pages[0]
    assert "张安全" in page_one.extract_text() and certificate.number in page_one.extract_text()
    assert any(image.image.size == (295, 412) for image in page_one.images)  # the photo
    SCREENSHOTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "110", "-png", "-singlefile", str(pdf_path), "journey-certificate"],
        cwd=SCREENSHOTS,
        check=True,
    )
    scanned = subprocess.run(
        ["zbarimg", "--raw", "-q", str(SCREENSHOTS / "journey-certificate.png")],
        capture_output=True,
        text=True,
        check=True,
    )
    url = scanned.stdout.strip()
    assert url == f"{live_server.base_url}/verify/{certificate.number}"
    stranger = await pages.new(phone=True)
    await stranger.goto(url)
    assert await stranger.locator("#verdict").get_attribute("data-status") == "valid"
    assert await stranger.inner_text("#v-name") == "张*全"
    await look(stranger, "journey-learner-42-verify", phone=True)

    # The admin's report and its Excel export count the pass.
    await browser_login(staff, live_svc.redis, admin.id_number, ADMIN_PASSWORD)
    await staff.goto("/admin/reports?refresh=1")
    await staff.click("#tab-results")
    assert await staff.inner_text("#r-sat") == "1"
    assert await staff.inner_text("#r-passed") == "1"
    await look(staff, "journey-learner-50-admin-report")
    await staff.click("#export-results")
    link = staff.locator("#export-download")
    await link.wait_for(timeout=30_000)
    await look(staff, "journey-learner-51-admin-export")
    async with staff.expect_download() as info:
        await link.click()
    book = load_workbook(io.BytesIO((await (await info.value).path()).read_bytes()))
    cells = [str(c) for row in book.active.iter_rows(values_only=True) for c in row if c]
    assert "张安全" in cells and "合格" in cells
