"""Browser fixtures: Debian's Chromium driven by Playwright, screenshots to look at."""

from __future__ import annotations

import contextlib
import fnmatch
import re
import weakref
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.factories import captcha_answer

SCREENSHOTS = Path(__file__).parent / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 375, "height": 812}
ASSETS = {"script", "stylesheet", "font", "image"}
OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # context -> its Pages
# Added to every page before its own scripts: each violation of the site's
# Content-Security-Policy becomes a console error, which the watcher fails on.
WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " " + (e.blockedURI || "inline")
    + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""
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


class Pages:
    """Every browser page a test opens, served exactly as users get it (the site's
    Content-Security-Policy enforced) and watched: any CSP violation, console error,
    uncaught script error, failed or refused request for the site's own scripts, styles,
    fonts or images, and any 5xx response fails the test. A test that provokes an error
    response on purpose declares it with `expect` (its status and URL, nothing wider)."""

    def __init__(self, browser, base_url: str) -> None:
        self.browser, self.base_url = browser, base_url
        self.contexts: list = []
        self.problems: list[str] = []
        self.expected: dict[tuple[int, str], int] = {}

    async def new(self, *, phone: bool = False, **options):
        """A page in a context of its own (its own cookies: another person, or a phone)."""
        options = {
            "base_url": self.base_url,
            "locale": "zh-CN",
            "viewport": PHONE if phone else DESKTOP,
            **({"is_mobile": True, "has_touch": True} if phone else {}),
            **options,
        }
        context = await self.browser.new_context(**options)
        await context.add_init_script(script=WATCH)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"script error: {error.error}"))
        context.on("response", self._response)
        context.on("requestfailed", self._failed)
        self.contexts.append(context)
        OWNERS[context] = self
        page = await context.new_page()
        page.set_default_timeout(10_000)
        return page

    def expect(self, status: int, path: str) -> None:
        """Declare that this test provokes `status` from the URL path `path` (an fnmatch
        pattern, query string included); it must happen at least once."""
        self.expected.setdefault((status, path), 0)

    def _allowed(self, status: int, url: str) -> bool:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        for key in self.expected:
            if key[0] == status and fnmatch.fnmatchcase(path, key[1]):
                self.expected[key] += 1
                return True
        return False

    def _own(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    def _console(self, message) -> None:
        if message.type != "error":
            return
        # Chromium logs every error response as "Failed to load resource: the server
        # responded with a status of N"; one the test declared is not a problem.
        status = re.search(r"status of (\d{3})", message.text)
        url = message.location.get("url", "")
        if status and self._own(url) and self._allowed(int(status.group(1)), url):
            return
        self.problems.append(f"console error: {message.text} ({url})")

    def _response(self, response) -> None:
        request = response.request
        own_asset = self._own(response.url) and request.resource_type in ASSETS
        failed = response.status >= 500 or (response.status >= 400 and own_asset)
        if failed and not self._allowed(response.status, response.url):
            self.problems.append(f"{response.status} for {request.method} {response.url}")

    def _failed(self, request) -> None:
        # A load cut short because its page moved on (ERR_ABORTED) is no failure of the site.
        failure = request.failure or ""
        if (
            self._own(request.url)
            and request.resource_type in ASSETS
            and "ERR_ABORTED" not in failure
        ):
            self.problems.append(f"failed to load {request.url}: {failure}")

    async def look(self, page, name: str, *, phone: bool = False) -> None:
        """A page a journey opens, checked and photographed as a person gets it: axe-core
        (loaded into the page here, not into every page the journey passes) must find
        nothing serious or critical; a screenshot at 1366×768 and, for a learner's or applicant's page
        (`phone`), at 375×812 too, where it must not scroll sideways. What axe-core finds
        is reported with the rest when the test ends, so one run lists every page's."""
        await page.wait_for_load_state()
        await self._axe(page, "1366")
        await shot(page, f"{name}-1366")
        if phone:
            await page.set_viewport_size(PHONE)
            try:
                if not await page.evaluate(NO_SIDEWAYS):
                    self.problems.append(f"{page.url} scrolls sideways at 375 px ({name})")
                await self._axe(page, "375")
                await shot(page, f"{name}-375")
            finally:
                await page.set_viewport_size(DESKTOP)

    async def _axe(self, page, width: str) -> None:
        if not await page.evaluate("typeof axe !== 'undefined'"):
            await page.evaluate(AXE_SOURCE)
        for found in await page.evaluate(AXE_RUN):
            self.problems.append(f"axe-core at {width} px on {page.url}: {found}")

    async def check(self) -> None:
        """Fail if anything went wrong in any page so far (and forget it, once reported)."""
        for context in self.contexts:
            for page in context.pages:  # a round trip: events already sent are handled first
                with contextlib.suppress(PlaywrightError):
                    await page.evaluate("0")
        problems, self.problems = self.problems, []
        unseen = [f"{status} {path}" for (status, path), n in self.expected.items() if not n]
        if unseen:
            problems.append(f"declared but never seen: {', '.join(unseen)}")
        assert not problems, "in the browser:\n" + "\n".join(problems)

    async def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(PlaywrightError):
                await context.close()


async def look(page, name: str, *, phone: bool = False) -> None:
    """`Pages.look` for a page opened by the `pages` fixture."""
    await OWNERS[page.context].look(page, name, phone=phone)


@pytest.fixture
async def pages(browser, live_server):
    """The one way browser tests open pages: see `Pages`."""
    opened = Pages(browser, live_server.base_url)
    try:
        yield opened
        await opened.check()
    finally:
        await opened.close()


@pytest.fixture
async def page(pages):
    """A computer's page (1366×768) for one person."""
    return await pages.new()


# Screenshots to look at are JPEG: Chromium encodes a long page as PNG in several times the
# CPU (in the registration journey 19 s of Chromium's 65, as JPEG 5).
SHOT = {"type": "jpeg", "quality": 85}


async def shot(page, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/screenshots/."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.jpg"
    await page.screenshot(path=str(path), full_page=True, **SHOT)
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
    path = SCREENSHOTS / f"{name}.jpg"
    await page.screenshot(path=str(path), **SHOT)
    return path


# 650 KB of script: loaded into a page only when `look` checks it (as an init script it was
# parsed on every page of every journey, and Chromium's CPU was the suite's largest cost).
AXE_SOURCE = AXE.read_text() + "\n;0"
AXE_RUN = """async () => {
    const result = await axe.run(document, {resultTypes: ["violations"]});
    return result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.impact} ${v.id}: ${v.help}\\n` + v.nodes.slice(0, 6).map((n) => {
            const data = (n.any[0] || {}).data || {};
            const colours = data.fgColor ? ` (${data.fgColor} on ${data.bgColor}: ${data.contrastRatio})` : "";
            return `    ${n.target.join(" ")}${colours}`;
        }).join("\\n"));
}"""
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"


async def answers_saved(page) -> None:
    """Wait until the exam page says every answer is saved and the connection is up."""
    await page.wait_for_function(
        "() => document.getElementById('save-state').dataset.state === 'saved'"
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
