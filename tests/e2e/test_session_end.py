"""In a real browser: when the web session ends, or a page may no longer take part, the
study and exam pages say why (the refused handshake's ``{code, message}``) and offer the
way out; a socket the server merely closed reconnects and carries on."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import delete

from app.accounts import sessions
from app.accounts.models import UserRole
from tests.e2e.conftest import browser_login, shot, view
from tests.e2e.test_study import PASSWORD as STUDY_PASSWORD
from tests.e2e.test_study import demo_learner
from tests.exams.conftest import SMALL, Exams
from tests.factories import Factory

PASSWORD = "Str0ng-Pass!"


def _token(page_cookies: list[dict]) -> str:
    return next(c["value"] for c in page_cookies if c["name"] == sessions.COOKIE_NAME)


async def _open_video(page, live_svc):
    user = await demo_learner(live_svc)
    await browser_login(page, live_svc.redis, user.id_number, STUDY_PASSWORD)
    await page.goto("/courses")
    await page.locator("#course-table tbody tr").first.get_by_role("link", name="开始学习").click()
    await page.wait_for_url(re.compile(r"/courses/video/\d+$"))
    await page.wait_for_function(
        "() => document.getElementById('study-state').textContent.includes('已连接')"
    )
    return user


async def test_study_page__logged_out_elsewhere_says_so_with_a_login_link(page, live_svc):
    await page.set_viewport_size({"width": 375, "height": 812})
    user = await _open_video(page, live_svc)
    path = page.url.split("127.0.0.1", 1)[1].split("/", 1)[1]

    await sessions.revoke_all(live_svc.redis, user.id)  # e.g. the password changed elsewhere
    await page.wait_for_function(
        "() => document.getElementById('study-msg').textContent.includes('登录已失效')"
    )
    link = page.locator("#study-action")
    assert await link.inner_text() == "重新登录"
    assert await link.get_attribute("href") == f"/login?next=%2F{path.replace('/', '%2F')}"
    assert await page.text_content("#study-state") == "已停止计时"
    assert await page.evaluate("document.documentElement.scrollWidth <= 375")
    await shot(page, "session-ended-study-375")

    await link.click()
    await page.wait_for_url("**/login?next=*")
    assert await page.locator("#captcha-id").count() == 1


async def test_study_page__a_learner_no_more_is_told_and_offered_nothing_to_retry(page, live_svc):
    user = await _open_video(page, live_svc)
    async with live_svc.db.write() as db:
        await db.execute(
            delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == "learner")
        )
        db.add(UserRole(user_id=user.id, role="invigilator"))
    await sessions.reconnect_sockets(live_svc.redis, user.id)
    await page.wait_for_function(
        "() => document.getElementById('study-msg').textContent.includes('没有权限')"
    )
    assert await page.locator("#study-action").count() == 0


async def test_study_page__a_socket_closed_by_the_server_reconnects(page, live_server, live_svc):
    await _open_video(page, live_svc)
    sio = live_server.quart.extensions["sio"]
    study = [key for key in sio.session_watch.sockets if key[1] == "/study"]
    assert len(study) == 1
    await sio.disconnect(study[0][0], namespace="/study")  # e.g. a server restart
    # Connected again, with a new socket: the page carries on over Socket.IO.
    for _ in range(100):
        again = [key for key in sio.session_watch.sockets if key[1] == "/study"]
        if again and again != study:
            break
        await asyncio.sleep(0.05)
    assert len(again) == 1 and again != study
    assert "已连接" in await page.text_content("#study-state")


async def _exam_page(page, live_svc) -> tuple[object, int]:
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto("/exams")
    await page.click(f"#start-{batch.batch.id}")
    await page.check("#start-agree")
    await page.click("#start-confirm")
    await page.wait_for_url("**/exams/attempts/*")
    await page.wait_for_function(
        "() => document.getElementById('save-state').dataset.state === 'saved'"
        " && document.getElementById('conn-state').hidden"
    )
    return user, int(page.url.rsplit("/", 1)[1])


async def test_exam_page__session_ended_blocks_with_a_login_link(page, live_svc):
    user, attempt_id = await _exam_page(page, live_svc)
    await sessions.revoke_all(live_svc.redis, user.id)
    dialog = page.locator("#blocked-dialog")
    await dialog.wait_for(state="visible")
    assert await page.locator("#blocked-text").inner_text() == "登录已失效，请重新登录"
    action = page.locator("#blocked-action")
    assert await action.is_visible() and await action.inner_text() == "重新登录"
    assert await action.get_attribute("href") == f"/login?next=%2Fexams%2Fattempts%2F{attempt_id}"
    assert await page.locator("#paper input").first.is_disabled()
    await view(page, "session-ended-exam-1366", top=False)

    # Logging in again through that link returns to the paper, which carries on.
    await action.click()
    await page.wait_for_url("**/login?next=*")
    await browser_login_here(page, live_svc, user)
    await page.wait_for_url(f"**/exams/attempts/{attempt_id}")
    await page.wait_for_function(
        "() => document.getElementById('save-state').dataset.state === 'saved'"
    )


async def browser_login_here(page, live_svc, user) -> None:
    """Fill the login form already on screen (it keeps the ``next`` page)."""
    from tests.factories import captcha_answer

    captcha_id = await page.input_value("#captcha-id")
    await page.fill("#username", user.id_number)
    await page.fill("#password", PASSWORD)
    await page.fill("#captcha", await captcha_answer(live_svc.redis, captcha_id))
    await page.click("#login-submit")


async def test_exam_page__password_to_change_blocks_with_a_link_to_change_it(page, live_svc):
    user, _ = await _exam_page(page, live_svc)
    token = _token(await page.context.cookies())
    # An admin reissued the initial password while this session lived on (a test shortcut:
    # the session is marked, and the sockets are told to reconnect).
    await live_svc.redis.hset(sessions.redis_key(token), "must_change", 1)
    await sessions.reconnect_sockets(live_svc.redis, user.id)
    await page.locator("#blocked-dialog").wait_for(state="visible")
    assert await page.locator("#blocked-text").inner_text() == "首次登录请先修改初始密码"
    action = page.locator("#blocked-action")
    assert await action.inner_text() == "修改密码"
    assert await action.get_attribute("href") == "/password"
    await shot(page, "session-must-change-exam-1366")
