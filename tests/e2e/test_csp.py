"""Under the Content-Security-Policy every page still works, and the browser reports no
violation: learner pages (the study and exam sockets included), admin pages, login."""

from __future__ import annotations

import re

from devtools import demo
from tests.e2e.conftest import browser_login, shot

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile);
});
"""


class Violations:
    """CSP violations a browser context reports: events in the page and console errors."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.seen.append(message.text)

    async def collect(self, page) -> None:
        self.seen.extend(await page.evaluate("window.__csp || []"))


async def _watched(page) -> Violations:
    violations = Violations()
    await page.context.add_init_script(WATCH)
    page.on("console", violations.console)
    return violations


async def _visit(page, violations: Violations, path: str) -> None:
    await page.goto(path)
    await page.wait_for_load_state("networkidle")
    await violations.collect(page)


def _account(role: str) -> demo.DemoAccount:
    return next(a for a in demo.ACCOUNTS if a.role == role and a.password)


async def test_csp__learner_pages_and_their_sockets_work_without_violations(strict_page, live_svc):
    page = strict_page
    await demo.seed(live_svc)
    learner = _account("学员")  # 赵学完: every course studied, may sit the exam
    violations = await _watched(page)
    await _visit(page, violations, "/login")
    # The captcha refresh (app.js) runs.
    before = await page.input_value("#captcha-id")
    await page.click("#captcha-img")
    await page.wait_for_function(
        f"() => document.getElementById('captcha-id').value !== '{before}'"
    )
    await browser_login(page, live_svc.redis, learner.id_number, learner.password)
    for path in ("/profile", "/courses", "/exams", "/exams/records", "/certificates"):
        await _visit(page, violations, path)

    # The study page: the /study socket connects and a beat is credited.
    await _visit(page, violations, "/courses")
    await page.locator("#course-table tbody tr a").first.click()
    await page.wait_for_url(re.compile(r"/courses/video/\d+$"))
    await page.wait_for_function(
        "() => document.getElementById('study-state').textContent.includes('已连接')"
    )
    await page.evaluate(
        "() => { const v = document.getElementById('study-video'); v.muted = true; return v.play(); }"
    )
    await page.wait_for_function(
        "() => document.getElementById('study-state').textContent.includes('正在计时')"
    )
    await violations.collect(page)

    # The exam page: the /exam socket joins and an answer is saved.
    await _visit(page, violations, "/exams")
    await page.locator(".start-exam").first.click()
    await page.check("#start-agree")
    await page.click("#start-confirm")
    await page.wait_for_url("**/exams/attempts/*")
    await page.locator("#paper input").first.check()
    await page.wait_for_function(
        "() => document.getElementById('save-state').dataset.state === 'saved'"
        " && document.getElementById('answered-count').textContent === '1'"
    )
    await violations.collect(page)
    await shot(page, "csp-exam-page")
    assert violations.seen == []


async def test_csp__admin_pages_work_without_violations(strict_page, live_svc):
    page = strict_page
    await demo.seed(live_svc)
    admin = _account("管理员")
    violations = await _watched(page)
    await browser_login(page, live_svc.redis, admin.id_number, admin.password)
    for path in (
        "/admin",
        "/admin/learners",
        "/admin/learners/import",
        "/admin/audit",
        "/admin/certificates",
        "/verify",
    ):
        await _visit(page, violations, path)
    await _visit(page, violations, "/admin/learners")
    await page.locator("table a[href^='/admin/learners/']").first.click()
    await page.wait_for_load_state("networkidle")
    # A confirm dialog from admin.js (data-confirm), dismissed: the script runs.
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.locator("form[data-confirm] button[type=submit]").first.click()
    await violations.collect(page)
    assert violations.seen == []
