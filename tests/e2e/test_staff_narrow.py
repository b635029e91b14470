"""Staff pages as invigilators, admins and reviewers open them, with the CSP enforced:
the demo's invigilator finds a running 考场 with the demo learners; on a 375 px phone no
staff page scrolls sideways (tables scroll inside their card) and the live dashboard says
plainly that it needs a computer."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.exams.models import Question
from app.learning.models import Batch
from devtools import demo
from tests.e2e.conftest import browser_login, shot, view

PHONE = {"width": 375, "height": 812}
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def _account(name: str) -> demo.DemoAccount:
    return next(a for a in demo.ACCOUNTS if a.name == name)


@pytest.fixture
async def phone(pages):
    """A page on a phone-sized window (the CSP enforced, every error failing the test)."""
    return await pages.new(phone=True)


async def _check(page, name: str, path: str) -> list[str]:
    """Open a page; say whether it scrolls sideways, and keep what it looks like."""
    response = await page.goto(path)
    assert response.status < 400, (path, response.status)
    await page.wait_for_load_state("networkidle")
    await shot(page, f"staff-375-{name}")
    if await page.evaluate(NO_SIDEWAYS):
        return []
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    return [f"{path} is {width} px wide"]


async def test_demo__the_invigilator_finds_a_running_session_with_the_demo_learners(page, live_svc):
    await demo.seed(live_svc)
    invigilator = _account("李监考")
    await browser_login(page, live_svc.redis, invigilator.id_number, invigilator.password)
    assert page.url.endswith("/invigilate")
    row = page.locator("#session-table tbody tr").first
    assert "演示考场（第一考场）" in await row.inner_text() and "进行中" in await row.inner_text()
    await row.locator("a.btn").click()
    await page.wait_for_function(
        "() => document.getElementById('live-state').dataset.state === 'live'"
    )
    learners = [a.name for a in demo.ACCOUNTS if a.role == "学员"]
    assert await page.locator("#count-all").inner_text() == str(len(learners))
    await view(page, "staff-demo-dashboard", top=False)


async def test_phone__no_staff_page_scrolls_sideways(pages, phone, live_svc):
    page = phone
    await demo.seed(live_svc)
    async with live_svc.db.read() as db:
        batch = await db.scalar(select(Batch).where(Batch.name == demo.BATCH_NAME))
        question = await db.scalar(select(Question.id).order_by(Question.id).limit(1))
    wide: list[str] = []

    admin = _account("王管理")
    await browser_login(page, live_svc.redis, admin.id_number, admin.password)
    menu = await page.eval_on_selector_all(
        ".admin-nav a", "(links) => links.map((a) => a.getAttribute('href'))"
    )
    assert len(menu) >= 14
    learner = _account("赵学完")
    await page.goto(f"/admin/learners?q={learner.id_number}")
    record = await page.locator("table a[href^='/admin/learners/']").first.get_attribute("href")
    paths = [*menu, record, f"/admin/batches/{batch.id}", f"/admin/questions/{question}"]
    paths += [f"/admin/reports?batch={batch.id}&tab={tab}" for tab in ("results", "difficulty")]
    for path in paths:
        name = re.sub(r"[^a-z0-9]+", "-", path.split("?")[0].strip("/")) or "admin"
        wide += await _check(page, f"admin-{name}", path)
    await page.goto("/admin/banks")
    bank = await page.locator("a[href^='/admin/banks/']").first.get_attribute("href")
    wide += await _check(page, "admin-bank", bank)

    await page.context.clear_cookies()
    invigilator = _account("李监考")
    await browser_login(page, live_svc.redis, invigilator.id_number, invigilator.password)
    wide += await _check(page, "invigilate", "/invigilate")
    dashboard = await page.locator("#session-table a.btn").first.get_attribute("href")
    wide += await _check(page, "invigilate-dashboard", dashboard)
    notice = page.locator("#needs-computer")
    assert await notice.is_visible()
    assert "请使用电脑" in await notice.inner_text()
    computer = await pages.new()
    await computer.context.add_cookies(await page.context.cookies())
    await computer.goto(dashboard)
    assert not await computer.locator("#needs-computer").is_visible()

    await page.context.clear_cookies()
    reviewer = _account("周初审")
    await browser_login(page, live_svc.redis, reviewer.id_number, reviewer.password)
    wide += await _check(page, "review", "/review")
    assert wide == [], wide
