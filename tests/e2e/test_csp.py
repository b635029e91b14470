"""Under the Content-Security-Policy every page still works, and the browser reports no
violation: learner pages (the study and exam sockets included), admin pages, login. The
`pages` fixture fails a test on any violation (and on console errors, the site's own
assets failing to load, and 5xx responses): the last tests prove that it does."""

from __future__ import annotations

import re

import pytest

from devtools import demo
from tests.e2e.conftest import browser_login, shot


async def _visit(page, path: str) -> None:
    await page.goto(path)
    await page.wait_for_load_state("networkidle")


def _account(role: str) -> demo.DemoAccount:
    return next(a for a in demo.ACCOUNTS if a.role == role and a.password)


async def test_csp__learner_pages_and_their_sockets_work_without_violations(page, live_svc):
    await demo.seed(live_svc)
    learner = _account("学员")  # 赵学完: every course studied, may sit the exam
    await _visit(page, "/login")
    # The captcha refresh (app.js) runs.
    before = await page.input_value("#captcha-id")
    await page.click("#captcha-img")
    await page.wait_for_function(
        "(before) => document.getElementById('captcha-id').value !== before", arg=before
    )
    await browser_login(page, live_svc.redis, learner.id_number, learner.password)
    for path in ("/profile", "/courses", "/exams", "/exams/records", "/certificates"):
        await _visit(page, path)

    # The study page: the /study socket connects and a beat is credited.
    await _visit(page, "/courses")
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

    # The exam page: the /exam socket joins and an answer is saved.
    await _visit(page, "/exams")
    await page.locator(".start-exam").first.click()
    await page.check("#start-agree")
    await page.click("#start-confirm")
    await page.wait_for_url("**/exams/attempts/*")
    await page.locator("#paper input").first.check()
    await page.wait_for_function(
        "() => document.getElementById('save-state').dataset.state === 'saved'"
        " && document.getElementById('answered-count').textContent === '1'"
    )
    await shot(page, "csp-exam-page")


async def test_csp__admin_pages_work_without_violations(page, live_svc):
    await demo.seed(live_svc)
    admin = _account("管理员")
    await browser_login(page, live_svc.redis, admin.id_number, admin.password)
    for path in (
        "/admin",
        "/admin/learners",
        "/admin/learners/import",
        "/admin/audit",
        "/admin/certificates",
        "/verify",
    ):
        await _visit(page, path)
    await _visit(page, "/admin/learners")
    await page.locator("table a[href^='/admin/learners/']").first.click()
    await page.wait_for_load_state("networkidle")
    # A confirm dialog from admin.js (data-confirm), dismissed: the script runs.
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.locator("form[data-confirm] button[type=submit]").first.click()


async def test_pages__a_page_that_breaks_the_policy_fails_the_test(page, pages):
    await page.goto("/login")
    await pages.check()  # the login page itself is clean
    # An inline script, as a template that broke the rule would carry: the browser refuses
    # it under the policy the site sends, and the fixture reports the violation.
    await page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__ran = true'; document.body.append(s); }"""
    )
    with pytest.raises(AssertionError, match="CSP violation: script-src"):
        await pages.check()
    assert await page.evaluate("window.__ran") is None  # it did not run
    await page.evaluate("document.body.setAttribute('onclick', 'void 0'); document.body.click()")
    with pytest.raises(AssertionError, match="CSP violation: script-src"):
        await pages.check()


async def test_pages__console_errors_broken_assets_and_5xx_fail_the_test(page, pages):
    await page.goto("/login")
    await page.evaluate("console.error('坏了')")
    with pytest.raises(AssertionError, match="console error: 坏了"):
        await pages.check()
    await page.evaluate(
        "() => new Promise((done) => { setTimeout(() => missing(), 0); setTimeout(done, 50); })"
    )
    with pytest.raises(AssertionError, match="script error"):
        await pages.check()
    # The site's own image that is not there (404).
    await page.evaluate(
        """() => new Promise((done) => { const i = new Image(); i.onerror = done;
                   i.src = '/static/no-such-image.png'; document.body.append(i); })"""
    )
    with pytest.raises(AssertionError, match="404 for GET .*/static/no-such-image.png"):
        await pages.check()
    # A server error, however it reaches the page.
    await page.route("**/api/boom", lambda route: route.fulfill(status=502, body="bad gateway"))
    await page.evaluate("() => fetch('/api/boom')")
    with pytest.raises(AssertionError, match="502 for GET"):
        await pages.check()


async def test_pages__a_declared_error_response_passes_and_must_happen(page, pages):
    await page.route("**/api/boom", lambda route: route.fulfill(status=503, body="busy"))
    pages.expect(503, "/api/boom")
    await page.goto("/login")
    await page.evaluate("() => fetch('/api/boom')")
    await pages.check()  # declared: neither the response nor its console line is a problem
    pages.expect(409, "/api/never")
    with pytest.raises(AssertionError, match="declared but never seen: 409 /api/never"):
        await pages.check()
    pages.expected.clear()
