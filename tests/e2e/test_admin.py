"""An admin finds a learner, resets the photo and imports a list, in a real browser."""

from playwright.async_api import expect

from app.accounts.models import User
from app.learning.models import Enrolment
from app.profile import service as profile
from tests.admin.conftest import BATCH, jpeg, person_id, xlsx
from tests.e2e.conftest import browser_login, loaded_image_size, shot
from tests.factories import Factory
from tests.spreadsheets import far_row

ADMIN_PASSWORD = "Guanli#2026-Test"


async def test_admin__searches_a_learner_resets_the_photo_and_imports_a_list(
    pages, page, live_svc, worker, tmp_path
):
    factory = Factory(live_svc)
    batch = await Factory(live_svc).batch()
    admin = await factory.user(roles=("admin",), name="王管理", password=ADMIN_PASSWORD)
    for name, unit in [("李安全", "天津港集团"), ("赵监察", "渤海化工有限公司"), ("孙工程", "")]:
        await factory.user(name=name, work_unit=unit, password=None)
    learner = await factory.user(
        name="张安全", work_unit="天津某建设集团有限公司安全生产部", id_number=person_id("男")
    )
    async with live_svc.db.write() as db:
        user = await db.get(User, learner.id)
        await profile.upload_photo(
            session=db, config=live_svc.config, now=live_svc.now(), user=user, data=jpeg()
        )
        await profile.set_phone(session=db, user=user, phone="13800000001", now=live_svc.now())
        db.add(Enrolment(user_id=learner.id, batch_id=batch.id, enrolled_at=live_svc.now()))

    await browser_login(page, live_svc.redis, admin.id_number, ADMIN_PASSWORD)
    assert page.url.endswith("/admin")
    assert await page.locator("#stat-learners .stat-num").inner_text() == "4"
    await shot(page, "admin-01-home")

    await page.click(".admin-nav >> text=学员管理")
    await page.fill("#q", "张安全")
    await page.click("#search-btn")
    rows = page.locator("#learner-table tbody tr")
    # The search is a form: the results are a new page, read once it has arrived.
    await expect(rows).to_have_count(1)
    assert learner.id_number in await rows.first.inner_text()
    await page.fill("#q", "")
    await page.click("#search-btn")
    await expect(rows).to_have_count(5)  # every account, the admin included
    await shot(page, "admin-02-learners")

    await page.click(f"#learner-table >> text={learner.name}")
    assert page.url.endswith(f"/admin/learners/{learner.id}")
    assert await loaded_image_size(page, "#learner-photo") == [295, 412]
    assert BATCH in await page.locator("#enrolments").inner_text()
    await shot(page, "admin-03-learner")

    questions = []

    async def answer(dialog):
        questions.append(dialog.message)
        await (dialog.dismiss() if len(questions) == 1 else dialog.accept())

    page.on("dialog", answer)
    await page.click("#reset-photo")  # dismissed: nothing happens
    assert page.url.endswith(f"/admin/learners/{learner.id}")
    assert await page.locator("#learner-photo").count() == 1
    await page.click("#reset-photo")
    await page.locator("#done-msg").wait_for()
    assert "照片已重置" in await page.locator("#done-msg").inner_text()
    assert "确定重置 张安全 的照片吗" in questions[0]
    assert await page.locator("#no-photo").is_visible()
    assert "重置照片" in await page.locator("#history").inner_text()
    await shot(page, "admin-04-photo-reset")

    path = tmp_path / "2026年第一期学员名单.xlsx"
    path.write_bytes(
        xlsx(
            [
                (person_id("男"), "钱新", "男", "滨海新区应急管理局", BATCH),
                (person_id("女"), "周敏", "女", "天津港集团", BATCH),
                (learner.id_number, "张安全", "男", "", BATCH),
                ("12010219900307451", "吴错", "男", "", BATCH),
                (person_id("男"), "郑六", "女", "", BATCH),
                (person_id("女"), "王七", "女", "", "2030年第九期"),
            ]
        )
    )
    await page.click(".admin-nav >> text=导入学员")
    await shot(page, "admin-05-import")
    await page.set_input_files("#import-file", str(path))
    await page.click("#import-submit")
    await page.locator("#import-counts").wait_for()
    counts = page.locator("#import-counts")
    assert await counts.locator("#c-created").inner_text() == "2"
    assert await counts.locator("#c-already").inner_text() == "1"
    assert await counts.locator("#c-errors").inner_text() == "3"
    errors = await page.locator("#import-errors").inner_text()
    assert "身份证号应为18位" in errors and "批次《2030年第九期》不存在" in errors
    await shot(page, "admin-06-import-result")

    await page.click(".admin-nav >> text=操作日志")
    assert "导入学员" in await page.locator("#audit-table").inner_text()
    await shot(page, "admin-07-audit")

    # A 5 KB file whose one row is numbered 20,000,000 is refused at once, with the reason.
    bomb = tmp_path / "两千万行.xlsx"
    bomb.write_bytes(far_row())
    await page.click(".admin-nav >> text=导入学员")
    await page.set_input_files("#import-file", str(bomb))
    pages.expect(400, "/admin/learners/import")  # the refusal's page
    await page.click("#import-submit")
    refusal = await page.locator("#import-error").inner_text()
    assert "超过单次导入上限 20000 行" in refusal and "20000000" in refusal
    await shot(page, "admin-08-import-refused")
