"""The exam answered with the keyboard alone, read by a screen reader, and at 200% zoom."""

from __future__ import annotations

from app.exams import paper as papers
from tests.e2e.conftest import browser_login, shot
from tests.exams.conftest import SMALL, Exams
from tests.factories import Factory

PASSWORD = "Str0ng-Pass!"


async def focused(page) -> dict:
    """Where the keyboard focus is: the element, its question and its label text."""
    return await page.evaluate(
        """() => { const el = document.activeElement;
                   const fs = el.closest('.question');
                   return { id: el.id, tag: el.tagName, type: el.type || '', value: el.value || '',
                            checked: !!el.checked, qid: fs ? fs.dataset.qid : null }; }"""
    )


async def saved(page) -> None:
    await page.wait_for_function(
        "() => document.getElementById('save-state').dataset.state === 'saved'"
        " && document.getElementById('conn-state').hidden"
    )


async def test_exam__answered_with_the_keyboard_alone(page, live_svc):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    items = papers.paper_from_json(attempt.paper)
    qids = [str(i.question_id) for i in items]
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto(f"/exams/attempts/{attempt.id}")
    await saved(page)

    # The first Tab reaches the skip link; Enter on it puts the focus on the paper.
    await page.keyboard.press("Tab")
    assert (await focused(page))["id"] == "skip-to-paper"
    assert await page.locator("#skip-to-paper").is_visible()
    await page.keyboard.press("Enter")
    await page.keyboard.press("Tab")
    first = await focused(page)
    assert first["qid"] == qids[0] and first["type"] == "radio"

    # Question 1 (single choice): the arrow key moves to and chooses B.
    await page.keyboard.press("ArrowDown")
    assert (await focused(page))["checked"]
    # Tab goes on to question 2; Alt+↓ jumps a question, Alt+↑ comes back.
    await page.keyboard.press("Tab")
    assert (await focused(page))["qid"] == qids[1]
    await page.keyboard.press("Alt+ArrowDown")
    assert (await focused(page))["qid"] == qids[2]
    await page.keyboard.press("Alt+ArrowUp")
    assert (await focused(page))["qid"] == qids[1]
    await page.keyboard.press("Space")  # single choice: Space picks the focused option
    await saved(page)

    # The navigator: Tab to a number, Enter moves the focus into that question.
    multiple = next(i for i in items if i.type == "multiple")
    link = page.locator(f"#nav-{multiple.question_id}")
    await link.focus()
    assert await link.get_attribute("aria-label") == f"第 {link_number(items, multiple)} 题，未作答"
    await page.keyboard.press("Enter")
    await page.wait_for_function(
        "(qid) => document.activeElement.closest('.question')?.dataset.qid === qid",
        arg=str(multiple.question_id),
    )
    # Multiple choice: Space ticks the first option, Tab then Space the second.
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Space")
    await saved(page)

    assert await page.locator(f'input[name="q{qids[0]}"][value="B"]').is_checked()
    assert await page.locator(f'input[name="q{qids[1]}"]:checked').count() == 1
    assert await page.locator(f'input[name="q{multiple.question_id}"]:checked').count() == 2
    assert await page.locator("#answered-count").inner_text() == "3"
    label = await link.get_attribute("aria-label")
    assert label == f"第 {link_number(items, multiple)} 题，已作答"
    stored = await exams.reload(attempt)
    async with live_svc.db.read() as db:
        from app.exams import attempts

        answers = await attempts.answers_of(session=db, attempt_id=stored.id)
    assert answers[int(qids[0])][0] == "B"
    assert len(answers[multiple.question_id][0]) == 2


def link_number(items, item) -> int:
    return items.index(item) + 1


async def test_exam__labels_for_screen_readers_and_200_percent_zoom(pages, live_svc):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    # 200% browser zoom of a 1366×768 screen: 683×384 CSS pixels at twice the density.
    page = await pages.new(viewport={"width": 683, "height": 384}, device_scale_factor=2)
    await browser_login(page, live_svc.redis, user.id_number, PASSWORD)
    await page.goto(f"/exams/attempts/{attempt.id}")
    await saved(page)

    # Every option has an accessible name: its letter and text (or 对/错), inside a group
    # named by the question.
    snapshot = await page.locator("#paper").aria_snapshot()
    item = papers.paper_from_json(attempt.paper)[0]
    assert "group" in snapshot and "radio" in snapshot
    names = await page.evaluate(
        """() => Array.from(document.querySelectorAll('#paper input')).map(
             (i) => i.closest('label').textContent.replace(/\\s+/g, ' ').trim())"""
    )
    assert all(names) and any(n.startswith("A.") for n in names) and "对" in names
    legends = await page.locator("#paper fieldset > legend").all_inner_texts()
    assert len(legends) == 8 and all(legends)
    assert await page.locator(f"#nav-{item.question_id}").get_attribute("aria-label") == (
        "第 1 题，未作答"
    )
    assert await page.get_attribute("#navigator", "aria-label")

    # Nothing is cut off or scrolls sideways at 200%.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for selector in ("#countdown", "#submit-btn", "#q-1 label >> nth=0", "#navigator"):
        box = await page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 683, selector
    await shot(page, "exam-zoom-200")
