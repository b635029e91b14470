"""Browser fixtures: Debian's Chromium driven by Playwright, screenshots to look at."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.factories import captcha_answer

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
async def browser():
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser, live_server):
    # Playwright evaluates string predicates (wait_for_function("...")) with eval, which the
    # site's Content-Security-Policy forbids; tests/e2e/test_csp.py browses with it enforced.
    context = await browser.new_context(
        base_url=live_server.base_url,
        viewport={"width": 1366, "height": 768},
        locale="zh-CN",
        bypass_csp=True,
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    yield page
    await context.close()


async def shot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def browser_login(
    page, redis, id_number: str, password: str, *, keep_tour: bool = False
) -> None:
    """Fill the login form as a person would, reading the captcha answer from Redis.

    A user's first visit to their landing page opens the guided tour over it; unless the
    test is about the tour (`keep_tour`), it is skipped as a person would."""
    await page.goto("/login")
    captcha_id = await page.input_value("#captcha-id")
    await page.fill("#username", id_number)
    await page.fill("#password", password)
    await page.fill("#captcha", await captcha_answer(redis, captcha_id))
    await page.click("#login-submit")
    await page.wait_for_load_state()
    if not keep_tour and await page.locator("#tour").count():
        await page.locator("#tour .tour-card").wait_for(state="visible")
        async with page.expect_response("**/api/tour/done"):
            await page.click('[data-tour="skip"]')


async def view(page, name: str, *, top: bool = True) -> Path:
    """What the person sees in the window (1366×768 by default), scrolled to the top."""
    if top:
        await page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


async def answers_saved(page) -> None:
    """Wait until the exam page says every answer is saved and the connection is up."""
    await page.wait_for_function(
        "document.getElementById('save-state').dataset.state === 'saved'"
        " && document.getElementById('conn-state').hidden"
    )


async def choose(page, qid: int, values: str) -> None:
    """Tick the options of a question on the exam page, as a person clicks them."""
    for value in values:
        await page.locator(f'#paper input[name="q{qid}"][value="{value}"]').check()


async def loaded_image_size(page, selector: str) -> list[int]:
    """The natural size of an image once the browser has loaded it (it loads after the
    element appears, so reading it at once may find nothing yet)."""
    handle = await page.wait_for_function(
        """(selector) => {
            const img = document.querySelector(selector);
            return img && img.complete && img.naturalWidth > 0
                && [img.naturalWidth, img.naturalHeight];
        }""",
        arg=selector,
    )
    return await handle.json_value()


@pytest.fixture
async def strict_page(browser, live_server):
    """A page whose browser enforces the site's Content-Security-Policy, as users' do."""
    context = await browser.new_context(
        base_url=live_server.base_url, viewport={"width": 1366, "height": 768}, locale="zh-CN"
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    yield page
    await context.close()
