"""What staff read about a disputed sitting, in a browser with the CSP enforced: the
dashboard counts a forced paper and a voided re-sit while the row shows the current
attempt; the learner record names every history entry in words, shows the device as people
read it and marks the voided paper 已作废."""

from __future__ import annotations

from app.exams import attempts, statuses
from app.exams.statuses import EventKind
from app.invigilation import actions
from tests.e2e.conftest import browser_login, shot, view
from tests.factories import Factory
from tests.invigilation.conftest import PASSWORD, Proctoring

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


async def test_records__dashboard_counts_and_learner_record_tell_the_truth(page, live_svc):
    proctoring = Proctoring(live_svc, Factory(live_svc))
    sitting = await proctoring.sitting(2)
    learner = sitting.learners[0]
    invigilator = await proctoring.invigilator(sitting.exam_session, password=PASSWORD)

    async def act(do, attempt, reason):
        async with live_svc.db.write() as db:
            await do(
                session=db,
                actor=actions.Actor(invigilator, "10.0.0.9"),
                exam_session=sitting.exam_session,
                attempt_id=attempt.id,
                reason=reason,
                now=live_svc.now(),
            )

    first = await proctoring.start(learner, sitting.batch)
    async with live_svc.db.write() as db:
        await attempts.record_event(
            session=db,
            attempt_id=first.id,
            kind=EventKind.JOIN,
            now=live_svc.now(),
            detail=statuses.device_detail("10.20.30.40", CHROME),
        )
    await act(actions.force_submit, first, "使用手机")
    await act(actions.void, await proctoring.start(learner, sitting.batch), "替考")
    await proctoring.start(learner, sitting.batch)

    await browser_login(page, live_svc.redis, invigilator.id_number, PASSWORD)
    await page.goto(f"/invigilate/{sitting.exam_session.id}")
    await page.wait_for_function(
        "() => document.getElementById('live-state').dataset.state === 'live'"
    )
    counts = {
        key: await page.locator(f"#count-{key}").inner_text()
        for key in ("all", "waiting", "offline", "forced", "voided")
    }
    assert counts == {"all": "2", "waiting": "1", "offline": "1", "forced": "1", "voided": "1"}
    await page.click(".count-chip.state-forced")
    await page.wait_for_function("() => document.querySelectorAll('tr.row').length === 1")
    row = page.locator("tr.row")
    assert await row.get_attribute("data-uid") == str(learner.id)
    assert await row.get_attribute("data-state") == "offline"  # the current, third attempt
    await view(page, "records-dashboard-counts", top=False)

    await page.context.clear_cookies()
    admin = await proctoring.admin()
    await browser_login(page, live_svc.redis, admin.id_number, PASSWORD)
    await page.goto(f"/admin/learners/{learner.id}")
    for summary in await page.locator("tr.events details > summary").all():
        await summary.click()  # each paper's history unfolds, as an admin opens it
    text = await page.inner_text("main")
    for words in (
        "10.20.30.40 · Chrome 156 · Windows 10",
        "监考强制交卷",
        "已作废",
        "监考员作废",
    ):
        assert words in text, words
    for raw in ("Mozilla", "voided", "invigilator", "second_device"):
        assert raw not in text
    await shot(page, "records-learner-record")
