"""A learner sits the exam in a real browser: answers autosave, survive a reload, the time
runs out and the server submits; the second attempt is handed in by the learner."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

from app.exams import paper as papers
from tests.e2e.conftest import answers_saved, browser_login, choose, shot, view
from tests.exams.conftest import SMALL, Exams
from tests.factories import Factory
from workers.exams import sweep_exam_deadlines

PASSWORD = "Str0ng-Pass!"


async def test_exam__answers_survive_a_reload_time_runs_out_then_a_second_attempt_passes(
    page, live_server, live_svc, clock
):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(
        name="注册安全工程师继续教育 2026年第一期", policy={**SMALL, "duration_minutes": 1}
    )
    user = await exams.eligible(batch, name="张安全", work_unit="天津某建设集团")

    # Everything the browser receives until the first paper is submitted is kept and scanned.
    received: list[str] = []
    collecting = True

    async def keep_response(response):
        if (
            collecting
            and "text" in (response.headers.get("content-type") or "")
            or "json" in (response.headers.get("content-type") or "")
        ):
            # A body the browser discarded (e.g. after navigating away) cannot be read.
            with contextlib.suppress(Exception):
                received.append(await response.text())

    def keep_socket(ws):
        ws.on("framereceived", lambda payload: collecting and received.append(str(payload)))

    page.on("response", keep_response)
    page.on("websocket", keep_socket)

    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto("/exams")
    await page.locator("#exam-guide").wait_for()
    await shot(page, "exam-01-my-exams")
    row = page.locator(f'tr[data-batch="{batch.batch.id}"]')
    assert "3 分钟" in await row.inner_text()

    await page.click(f"#start-{batch.batch.id}")
    dialog = page.locator("#start-dialog")
    await dialog.wait_for(state="visible")
    await shot(page, "exam-02-start-dialog")
    assert await page.locator("#start-confirm").is_disabled()
    await page.check("#start-agree")
    # The page counts down on its own clock from the server's deadline (the server's clock
    # is frozen): the browser's clock stands still until the countdown has been read, so
    # it shows the full minute however long the machine takes to get there.
    await page.clock.install()
    await page.clock.pause_at(dt.datetime.now() + dt.timedelta(seconds=1))
    await page.click("#start-confirm")
    await page.wait_for_url("**/exams/attempts/*")
    await answers_saved(page)
    attempt_id = int(page.url.rsplit("/", 1)[1])
    async with live_svc.db.read() as db:
        from app.exams.models import Attempt

        attempt = await db.get(Attempt, attempt_id)
    items = papers.paper_from_json(attempt.paper)
    single, multiple, judge = (
        next(i for i in items if i.type == t) for t in ("single", "multiple", "judge")
    )

    summary = await page.locator("#summary").inner_text()
    assert (
        summary
        == "考题一共有8道，其中单选4题（每题10分）、多选2题（每题20分）、判断2题（每题10分）。总分100分，大于等于60分合格。"
    )
    assert await page.locator("#countdown").inner_text() == "1 分 00 秒"
    await page.clock.resume()

    await choose(page, single.question_id, "B")
    await choose(page, multiple.question_id, "AC")
    await choose(page, judge.question_id, "F")
    await answers_saved(page)
    assert await page.locator("#save-state").inner_text() == "所有答案已保存"
    for item in (single, multiple, judge):
        assert "answered" in await page.locator(f"#nav-{item.question_id}").get_attribute("class")
    assert await page.locator("#answered-count").inner_text() == "3"
    await view(page, "exam-03-answering")

    await page.reload()
    await answers_saved(page)
    assert await page.locator(f'input[name="q{single.question_id}"][value="B"]').is_checked()
    assert await page.locator(f'input[name="q{multiple.question_id}"][value="A"]').is_checked()
    assert await page.locator(f'input[name="q{multiple.question_id}"][value="C"]').is_checked()
    assert await page.locator(f'input[name="q{judge.question_id}"][value="F"]').is_checked()
    assert "answered" in await page.locator(f"#nav-{judge.question_id}").get_attribute("class")
    await view(page, "exam-04-after-reload")

    # The one minute runs out on the server's clock; the sweeper submits and tells the page.
    clock.advance(minutes=1)
    assert await sweep_exam_deadlines({"svc": live_svc}, lookahead=0) == 1
    result = page.locator("#result-dialog")
    await result.wait_for(state="visible")
    text = await page.locator("#result-text").inner_text()
    assert text.startswith("很遗憾！您的考试成绩为 ")
    assert text.endswith("考试未通过！您还有 2 次考试的机会，继续努力吧！")
    assert await page.locator("#go-courses").inner_text() == "进入我的课程"
    assert await page.locator("#go-continue").inner_text() == "继续考试"
    assert await page.locator(f'input[name="q{single.question_id}"]').first.is_disabled()
    await view(page, "exam-05-time-up-result")

    collecting = False
    secrets = await exams.secrets(attempt)
    everything = "\n".join(received)
    assert any(f"/exams/attempts/{attempt_id}" in r or "所有答案已保存" in r for r in received)
    for secret in secrets:
        assert secret not in everything
    assert '"explanation"' not in everything and '"answer":' not in everything

    # Second attempt: answer everything right and hand it in.
    await page.click("#go-continue")
    await page.wait_for_url("**/exams")
    await page.click(f"#start-{batch.batch.id}")
    await page.check("#start-agree")
    await page.click("#start-confirm")
    await page.wait_for_url("**/exams/attempts/*")
    await answers_saved(page)
    second_id = int(page.url.rsplit("/", 1)[1])
    assert second_id != attempt_id
    async with live_svc.db.read() as db:
        second = await db.get(Attempt, second_id)
    for qid, value in (await exams.key(second)).items():
        await choose(page, qid, value)
    await answers_saved(page)
    await page.click("#submit-btn")
    await page.locator("#confirm-dialog").wait_for(state="visible")
    assert "您已完成全部试题" in await page.locator("#confirm-text").inner_text()
    await view(page, "exam-06-confirm-submit")
    await page.click("#confirm-submit")
    await result.wait_for(state="visible")
    assert await page.locator("#result-text").inner_text() == (
        "恭喜您！您的考试成绩为 100 分，考试合格！请到“考试记录”中查看成绩，合格证书生成后可下载打印。"
    )
    assert await page.locator("#go-records").is_visible()
    assert not await page.locator("#go-continue").is_visible()
    await view(page, "exam-07-passed")

    await page.click("#go-records")
    await page.wait_for_url("**/exams/records")
    table = await page.locator("#records-table").inner_text()
    assert "时间到自动交卷" in table and "交卷" in table and "合格" in table and "100" in table
    await shot(page, "exam-08-records")
    stored = json.loads((await exams.reload(attempt)).graded_answers)
    assert (
        stored[str(single.question_id)][0] == "B" and stored[str(multiple.question_id)][0] == "AC"
    )
