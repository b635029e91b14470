"""Two pages in a real browser: an invigilator's dashboard of a session with 200 learners,
and one learner sitting the exam. The invigilator sees the learner join, answer and leave
the tab (how fast is bench/invigilation.py's to measure, not a timed test's); messages the learner (the banner appears and its reading
shows), extends the time (the countdown moves) and force-submits (监考强制交卷)."""

from __future__ import annotations

import asyncio
import io

import socketio
from PIL import Image, ImageDraw

from app.exams import grading, joining
from app.invigilation import actions
from app.invigilation import live as proctor_live
from app.profile import service as profile
from tests.e2e.conftest import browser_login, view
from tests.exams.conftest import paper_of
from tests.factories import Factory, http_login
from tests.invigilation.conftest import PASSWORD, Proctoring

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
GIVEN = "安建国明华平丽军强伟芳敏静磊洋艳勇杰娟涛超"
PHOTOS_LOADED = "() => Array.from(document.querySelectorAll('img.thumb')).every((i) => i.complete)"


def id_photo(n: int) -> bytes:
    """A 1-inch blue-background ID photo (295×412): a face and shoulders, a shade per person."""
    image = Image.new("RGB", (295, 412), (67, 142, 219))
    draw = ImageDraw.Draw(image)
    skin = (236 - n % 5 * 6, 200 - n % 7 * 5, 170 - n % 3 * 8)
    draw.ellipse((40, 300, 255, 520), fill=(40 + n % 4 * 20, 45, 60))
    draw.ellipse((92, 90, 203, 235), fill=skin)
    draw.pieslice((88, 70, 207, 190), 180, 360, fill=(30 + n % 6 * 10, 25, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def _photos(live_svc, people) -> None:
    for n, person in enumerate(people):
        async with live_svc.db.write() as db:
            user = await db.get(type(person), person.id)
            await profile.upload_photo(
                session=db, config=live_svc.config, now=live_svc.now(), user=user, data=id_photo(n)
            )


async def _crowd(live_svc, proctoring: Proctoring, count: int = 199):
    """A session of 200: most waiting, some answering (online or offline), some done."""
    batch = await proctoring.batch(name="注册安全工程师继续教育 2026年第一期")
    people = [
        await proctoring.learner(
            batch,
            name=SURNAMES[n % len(SURNAMES)] + GIVEN[n % len(GIVEN)] + GIVEN[(n * 7) % len(GIVEN)],
        )
        for n in range(count)
    ]
    await _photos(live_svc, [p for n, p in enumerate(people) if n % 7 != 3])  # a few have none
    exam_session = await proctoring.exam_session(batch, name="第一考场（上午场）")
    invigilator = await proctoring.invigilator(exam_session, name="王监考")
    sitting = people[:24]
    attempts = []
    for n, person in enumerate(sitting):
        await proctoring.study(person, batch)
        attempt = await proctoring.start(person, batch)
        attempts.append(attempt)
        await proctoring.join(attempt, tab=f"tab-crowd{n:04d}")
        answers = {i.question_id: "A" for i in paper_of(attempt)[: 1 + n % 4] if i.type == "single"}
        await proctoring.save(attempt, answers, tab=f"tab-crowd{n:04d}")
        for _ in range(n % 3 if n % 5 == 0 else 0):
            async with live_svc.db.write() as db:
                await joining.record_focus_loss(
                    session=db,
                    attempt_id=attempt.id,
                    user_id=person.id,
                    now=live_svc.now(),
                    detail="x",
                )
    for attempt in attempts[16:20]:
        async with live_svc.db.write() as db:
            await grading.submit(
                session=db, attempt_id=attempt.id, user_id=attempt.user_id, now=live_svc.now()
            )
    async with live_svc.db.write() as db:
        actor = actions.Actor(invigilator)
        await actions.force_submit(
            session=db,
            actor=actor,
            exam_session=exam_session,
            attempt_id=attempts[20].id,
            reason="违纪",
            now=live_svc.now(),
        )
        await actions.void(
            session=db,
            actor=actor,
            exam_session=exam_session,
            attempt_id=attempts[21].id,
            reason="冒名顶替，与登记照片不符",
            now=live_svc.now(),
        )
    return batch, exam_session, invigilator, people, attempts


async def _hold(base_url, live_svc, people, attempts) -> list[socketio.AsyncClient]:
    """Real exam pages (python-socketio clients) hold the first eight papers: 在线."""
    clients = []
    for n, (person, attempt) in enumerate(zip(people[:8], attempts[:8], strict=True)):
        cookie = await http_login(base_url, live_svc.redis, person.id_number, PASSWORD)
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            base_url,
            headers={"Cookie": f"safece_session={cookie}"},
            namespaces=["/exam"],
            transports=["websocket"],
            wait_timeout=10,
        )
        reply = await client.call(
            "join", {"attempt_id": attempt.id, "tab": f"tab-crowd{n:04d}"}, namespace="/exam"
        )
        assert reply["ok"], reply
        clients.append(client)
    return clients


async def _row(page, uid: int, *, state=None, cell=None) -> None:
    """Wait until the dashboard's row of this learner is in `state`, or its cell number
    `cell[0]` reads `cell[1]`."""
    await page.wait_for_function(
        """([uid, state, cell]) => {
            const tr = document.querySelector(`tr.row[data-uid="${uid}"]`);
            if (!tr) return false;
            if (state !== null) return tr.dataset.state === state;
            return tr.children[cell[0]].textContent === cell[1];
        }""",
        arg=[uid, state, cell],
    )


async def test_invigilation__two_pages_everything_live(pages, live_server, live_svc):
    proctoring = Proctoring(live_svc, Factory(live_svc))
    batch, exam_session, invigilator, people, attempts = await _crowd(live_svc, proctoring)
    holders = await _hold(live_server.base_url, live_svc, people, attempts)
    learner = await proctoring.eligible(batch, name="张安全", work_unit="天津某建设集团")
    await _photos(live_svc, [learner])

    staff, exam = await pages.new(), await pages.new()
    try:
        # The invigilator lands on 我的监考 and opens the session: 200 rows.
        await browser_login(staff, live_svc.redis, invigilator.id_number, PASSWORD)
        assert staff.url.endswith("/invigilate")
        await view(staff, "invigilate-01-my-sessions", top=False)
        await staff.click(f"#enter-{exam_session.id}")
        await staff.wait_for_selector('#live-state[data-state="live"]')
        assert await staff.locator("#count-all").inner_text() == "200"
        assert await staff.locator("#count-online").inner_text() == "8"
        assert await staff.locator("#count-forced").inner_text() == "1"
        assert await staff.locator("#count-voided").inner_text() == "1"
        assert await staff.locator("tr.row").count() < 40  # only what is in view is drawn
        await staff.wait_for_function(PHOTOS_LOADED)
        await view(staff, "invigilate-02-dashboard-200", top=False)
        await staff.select_option("#sort", "state")
        await staff.wait_for_function(PHOTOS_LOADED)
        await view(staff, "invigilate-03-sorted-by-state", top=False)
        await staff.select_option("#sort", "name")

        # The learner starts the exam in the other page.
        await browser_login(exam, live_svc.redis, learner.id_number, PASSWORD)
        await exam.goto("/exams")
        await staff.fill("#search", "张安全")
        await staff.wait_for_function("() => document.querySelectorAll('tr.row').length === 1")
        await exam.click(f"#start-{batch.batch.id}")
        await exam.check("#start-agree")
        await exam.click("#start-confirm")
        await exam.wait_for_url("**/exams/attempts/*")
        await exam.wait_for_function(
            "() => document.getElementById('save-state').dataset.state === 'saved'"
            " && document.getElementById('conn-state').hidden"
        )
        await _row(staff, learner.id, state="online")
        attempt = await proctoring.attempt(int(exam.url.rsplit("/", 1)[1]))
        first = next(i for i in paper_of(attempt) if i.type == "single")
        await exam.locator(f'#paper input[name="q{first.question_id}"][value="B"]').check()
        await exam.wait_for_function(
            "() => document.getElementById('save-state').dataset.state === 'saved'"
        )
        await _row(staff, learner.id, cell=(4, "1/8"))

        # The learner leaves the tab (the window loses focus).
        await exam.evaluate("window.dispatchEvent(new Event('blur'))")
        await exam.wait_for_function(
            "() => document.getElementById('focus-count').textContent === '1'"
        )
        await _row(staff, learner.id, cell=(6, "1"))
        await staff.click(f'tr.row[data-uid="{learner.id}"]')
        await staff.wait_for_selector("#timeline li")
        await view(staff, "invigilate-04-learner-detail", top=False)
        await staff.click("#detail-photo-btn")
        await staff.wait_for_function(
            "() => document.getElementById('photo-large').complete"
            " && document.getElementById('photo-large').naturalWidth === 295"
        )
        await view(staff, "invigilate-04b-photo-enlarged", top=False)
        await staff.click("#photo-close")

        # A message: the banner appears; once dismissed the invigilator sees it read.
        await staff.click("#act-message")
        await staff.fill("#act-text", "请保持坐姿端正，不要离开考试页面。")
        await staff.click("#act-confirm")
        await exam.wait_for_selector("#proctor-banner:not([hidden])")
        assert "请保持坐姿端正" in await exam.locator("#banner-text").inner_text()
        await view(exam, "invigilate-05-learner-banner", top=False)
        await exam.click("#banner-ok")
        await staff.wait_for_function(
            "() => document.querySelector('#message-log li .reads') &&"
            " document.querySelector('#message-log li .reads').textContent.startsWith('已读')",
        )
        await staff.click("#close-side")
        await view(staff, "invigilate-06-message-read", top=False)

        # Extra time: the learner's countdown moves at once.
        before = await exam.locator("#countdown").inner_text()
        await staff.click(f'tr.row[data-uid="{learner.id}"]')
        await staff.click("#act-extend")
        await staff.fill("#act-minutes", "10")
        await staff.fill("#act-reason", "网络或电脑故障，耽误了作答时间")
        await staff.click("#act-confirm")
        await exam.wait_for_function(
            "() => document.getElementById('countdown').textContent.startsWith('129 分')",
        )
        assert before.startswith("119 分") or before.startswith("120 分")
        await exam.wait_for_selector("#exam-notice:not([hidden])")
        await view(exam, "invigilate-07-learner-extended", top=False)

        # Force-submit: the learner sees 监考强制交卷; the row says so too.
        await staff.click("#act-force")
        await staff.fill("#act-reason", "考试过程中有违纪行为")
        await staff.click("#act-confirm")
        await exam.wait_for_selector("#result-dialog[open]")
        assert (await exam.locator("#result-text").inner_text()).startswith(
            "监考强制交卷（原因：考试过程中有违纪行为）。"
        )
        await view(exam, "invigilate-08-learner-forced", top=False)
        await _row(staff, learner.id, state="forced")
        await staff.wait_for_function(
            "() => Array.from(document.querySelectorAll('#timeline li .label'))"
            ".some((l) => l.textContent === '监考强制交卷')"
        )
        await view(staff, "invigilate-09-forced", top=False)

        # A lost delta: the page sees the gap in versions and fetches the snapshot again.
        await live_svc.redis.incr(proctor_live.version_key(exam_session.id))
        await holders[0].disconnect()
        expected = await proctor_live.version(live_svc.redis, exam_session.id)
        await staff.fill("#search", "")
        await staff.wait_for_function(
            "([v]) => Number(document.getElementById('proctor').dataset.version) >= v",
            arg=[expected + 1],
        )
        assert await staff.locator("#count-online").inner_text() == "7"
    finally:
        for client in holders:
            if client.connected:
                await client.disconnect()
        await asyncio.sleep(0)


async def test_admin__creates_a_session_and_assigns_an_invigilator(pages, page, live_svc):
    proctoring = Proctoring(live_svc, Factory(live_svc))
    batch = await proctoring.batch(name="注册安全工程师继续教育 2026年第一期")
    for n in range(3):
        await proctoring.learner(batch, name=f"学员{n + 1}")
    await proctoring.invigilator(name="王监考")
    admin = await proctoring.admin()
    await browser_login(page, live_svc.redis, admin.id_number, PASSWORD)
    await page.goto("/admin/exam-sessions")
    await page.select_option("#batch_id", str(batch.batch.id))
    await page.fill("#name", "第一考场（上午场）")
    await page.fill("#starts_at", "2026-03-02T09:30")
    await page.fill("#ends_at", "2026-03-02T08:30")
    pages.expect(400, "/admin/exam-sessions")
    await page.click("#create-session")
    assert "请修改以下 1 处" in await page.locator("#admin-error").inner_text()
    assert await page.locator("#err-starts_at").inner_text() == "结束时间应晚于开始时间"
    await page.fill("#ends_at", "2026-03-02T12:00")
    await page.click("#create-session")
    await page.wait_for_selector("#admin-msg")
    row = page.locator("#admin-session-table tbody tr").first
    await row.locator("select").select_option(label="王监考")
    await row.locator("button", has_text="指派").click()
    await page.wait_for_selector("#admin-msg")
    assert "王监考" in await page.locator("#admin-session-table").inner_text()
    await view(page, "invigilate-10-admin-sessions", top=False)
