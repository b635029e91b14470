"""Long input as an admin types or pastes it, with the CSP enforced: a field shows its
limit, a 2 MB paste says what was kept instead of being cut silently, a form larger than
the server takes is not sent and keeps what was typed, and the server's own 413 page says
the typed text is still on the page before."""

from __future__ import annotations

from devtools import demo
from tests.e2e.conftest import browser_login, view

TWO_MB = "安" * (2 * 1024 * 1024 // 3)


async def test_fields__limits_shown_paste_told_oversize_form_kept(pages, page, live_svc):
    pages.expect(413, "/admin/exam-sessions")  # the server's refusal, provoked on purpose
    await demo.seed(live_svc)
    admin = next(a for a in demo.ACCOUNTS if a.name == "王管理")
    await browser_login(page, live_svc.redis, admin.id_number, admin.password)
    await page.goto("/admin/exam-sessions")
    counter = page.locator("#name + .char-count")
    assert await counter.inner_text() == "0 / 100 字"
    await page.fill("#name", "第一考场")
    assert await counter.inner_text() == "4 / 100 字"

    # A 2 MB paste: the browser keeps the first 100 characters, and the page says so.
    await page.fill("#name", "")
    await page.evaluate(
        """(text) => {
            const field = document.getElementById("name");
            const data = new DataTransfer();
            data.setData("text", text);
            field.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
        }""",
        TWO_MB,
    )
    await page.wait_for_function(
        "() => document.querySelector('#name + .char-count').classList.contains('warn')"
    )
    told = await counter.inner_text()
    assert f"粘贴的内容有 {len(TWO_MB)} 字" in told and "只保留了前 100 字" in told

    # A form larger than the server takes is not sent; what was typed stays.
    long_list = "\n".join(["110105198503120012"] * 1200)  # ~23 KB
    await page.fill("#name", "第二考场")
    await page.select_option("#batch_id", index=1)
    await page.fill("#starts_at", "2026-03-02T10:00")
    await page.fill("#ends_at", "2026-03-02T12:00")
    await page.evaluate(
        "(text) => { document.getElementById('learners').value = text; }", long_list
    )
    await page.click("#create-session")
    note = page.locator("#session-form .form-too-large")
    await note.wait_for()
    assert "没有提交" in await note.inner_text() and "上限 16 KB" in await note.inner_text()
    assert page.url.endswith("/admin/exam-sessions")
    assert await page.input_value("#name") == "第二考场"
    assert len(await page.input_value("#learners")) == len(long_list)
    await view(page, "fields-too-large", top=False)

    # The server's 413 (a form sent around the page's check) says the text is kept.
    await page.evaluate(
        """() => { const f = document.getElementById("session-form");
                   f.addEventListener("submit", (e) => e.stopImmediatePropagation(), true);
                   f.requestSubmit(); }"""
    )
    await page.wait_for_selector("#go-back")
    assert "您填写的内容仍在上一页" in await page.inner_text("main")
    await page.click("#go-back")
    await page.wait_for_selector("#learners")
    assert await page.input_value("#name") == "第二考场"
