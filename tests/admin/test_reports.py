"""统计报表: study progress (who is short of what), exam results, filters by work unit,
chart data for ECharts, Excel exports run by the worker (formula-looking data as text),
and the audit log's search and export."""

import asyncio
import html
import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from app.accounts.models import User
from app.lib.workbook import Sheet, write_xlsx
from tests.admin.helpers import plain, post, text
from tests.exams.conftest import Exams


@pytest.fixture
def exams(svc, factory):
    return Exams(svc, factory)


async def cohort(svc, exams):
    """Three learners: one met everything and passed, one studied part, one nothing."""
    batch = await exams.batch()
    done = await exams.eligible(batch, name="王达标", work_unit='=HYPERLINK("x")')
    half = await exams.learner(batch, name="李一半", work_unit="天津港")
    await exams.study(half, batch, videos=[batch.videos[1]], days_ago=(0,))
    await exams.learner(batch, name="赵未学", work_unit="天津港")
    attempt = await exams.start(done, batch)
    await exams.join(attempt)
    key = await exams.key(attempt)
    await exams.save(attempt, key)
    from app.exams import grading

    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=attempt.id, user_id=done.id, now=svc.now())
    return batch


async def test_progress__counts_charts_and_who_is_short_of_what(admin_client, svc, exams):
    batch = await cohort(svc, exams)
    response = await admin_client.get(f"/admin/reports?batch={batch.batch.id}")
    raw = await response.get_data(as_text=True)
    page = await text(response)
    words = plain(page)
    assert re.search(r'id="p-learners">3<', page) and re.search(r'id="p-met">1<', page)
    assert "未达标学员（2）" in words
    assert "李一半" in words and "总时长差 2 分钟" in words and "公共课差 2 分钟" in words
    assert (
        "学习天数差 1 天" in words and "必修课未完成 1 门" in words and "安全生产法律法规" in words
    )
    charts = [json.loads(html.unescape(c)) for c in re.findall(r'data-chart="([^"]*)"', raw)]
    assert charts[1]["labels"][-1] == "全部达标" and charts[1]["values"][-1] == 1
    assert "/static/vendor/echarts/echarts.min.js" in page and "<script>" not in page
    only_port = plain(
        await text(
            await admin_client.get(
                f"/admin/reports?batch={batch.batch.id}&unit=%E5%A4%A9%E6%B4%A5%E6%B8%AF"
            )
        )
    )
    assert "未达标学员（2）" in only_port and "王达标" not in only_port
    # The snapshot kept in Redis (written to disk) holds no learner's ID number in clear.
    async with svc.db.read() as db:
        numbers = list(await db.scalars(select(User.id_number)))
    stored = await svc.redis.hgetall(f"report:progress:{batch.batch.id}:rows")
    assert len(stored) == 3
    assert not any(n in str(value) for value in stored.values() for n in numbers)


async def test_results__pass_rate_scores_and_attempts(admin_client, svc, exams):
    batch = await cohort(svc, exams)
    page = await text(await admin_client.get(f"/admin/reports?batch={batch.batch.id}&tab=results"))
    assert re.search(r'id="r-sat">1<', page) and re.search(r'id="r-passed">1<', page)
    assert re.search(r'id="r-rate">100.0%<', page)


async def run_export(admin_client, path, **form):
    response = await post(admin_client, path, **form)
    assert response.status_code == 302, await text(response)
    status_url = response.headers["Location"]
    for _ in range(200):
        page = await text(await admin_client.get(status_url))
        if 'data-state="done"' in page or 'data-state="failed"' in page:
            break
        await asyncio.sleep(0.05)
    assert 'data-state="done"' in page, plain(page)[-600:]
    download = await admin_client.get(status_url + "/download")
    assert download.status_code == 200
    from io import BytesIO

    return load_workbook(BytesIO(await download.get_data()))


async def test_difficulty__hardest_first_from_graded_papers(admin_client, svc, exams):
    from app.admin.reports import results
    from app.exams import grading

    batch = await exams.batch()
    keys = {}
    for name in ("王全对", "李漏答"):
        learner = await exams.eligible(batch, name=name)
        attempt = await exams.start(learner, batch)
        await exams.join(attempt)
        keys[name] = await exams.key(attempt)
        values = dict(keys[name])
        if name == "李漏答":
            skipped = next(iter(values))
            values.pop(skipped)  # left unanswered: not correct
        await exams.save(attempt, values)
        async with svc.db.write() as db:
            await grading.submit(
                session=db, attempt_id=attempt.id, user_id=learner.id, now=svc.now()
            )
    async with svc.db.read() as db:
        found = await results.difficulty(session=db, batch=batch.batch)
    # Each learner's paper is drawn for them: a question is used by the papers holding it.
    used = {
        q: (q in keys["王全对"]) + (q in keys["李漏答"]) for q in {*keys["王全对"], *keys["李漏答"]}
    }
    hardest = found[0]
    assert hardest.question_id == skipped
    assert (hardest.used, hardest.correct) == (used[skipped], used[skipped] - 1)
    assert all(d.share == 1.0 and d.used == used[d.question_id] for d in found[1:])
    assert {d.question_id for d in found} == set(keys["王全对"]) | set(keys["李漏答"])
    page = plain(
        await text(await admin_client.get(f"/admin/reports?batch={batch.batch.id}&tab=difficulty"))
    )
    assert f"{(used[skipped] - 1) / used[skipped] * 100:.1f}%" in page and "100.0%" in page


async def test_exports__progress_and_roster_by_the_worker(admin_client, svc, exams, worker):
    batch = await cohort(svc, exams)
    book = await run_export(
        admin_client, "/admin/reports/export", kind="progress", batch_id=str(batch.batch.id)
    )
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("姓名", "身份证号", "工作单位") and len(rows) == 4
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["李一半"][-1].startswith("总时长差 2 分钟")
    cell = next(c for c in book.active["C"] if c.value == '=HYPERLINK("x")')
    assert cell.data_type == "s"  # typed data stays text, never a formula
    roster = await run_export(
        admin_client, "/admin/reports/export", kind="roster", batch_id=str(batch.batch.id)
    )
    rows = list(roster.active.iter_rows(values_only=True))
    assert rows[0] == (
        "姓名",
        "身份证号",
        "性别",
        "工作单位",
        "学时",
        "考试成绩",
        "证书编号",
        "发证日期",
    )
    assert [r[0] for r in rows[1:]] == ["王达标"] and rows[1][5] == "100"


async def test_exports__a_bad_kind_is_refused(admin_client, batch):
    response = await post(
        admin_client, "/admin/reports/export", kind="everything", batch_id=str(batch.id)
    )
    assert response.status_code == 400


def test_xlsx__formula_looking_cells_are_written_as_text(tmp_path):
    dest = tmp_path / "x.xlsx"
    rows = [["=1+1", "+86 138", "-5", "@SUM(A1)", "\tx", 42, "安全"]]
    write_xlsx(dest, [Sheet("表", ["a", "b", "c", "d", "e", "f", "g"], rows)])
    sheet = load_workbook(dest).active
    cells = list(sheet.iter_rows(min_row=2))[0]
    assert [c.data_type for c in cells[:5]] == ["s"] * 5
    assert cells[0].value == "=1+1" and cells[5].value == 42


async def audit_rows(client, query: str) -> str:
    page = await text(await client.get("/admin/audit" + query))
    found = re.search(r'<table class="grid" id="audit-table">.*?</table>\s*</div>', page, re.S)
    return plain(found.group(0)) if found else plain(page)


async def test_audit__search_by_actor_target_action_and_date(admin_client, svc, factory, batch):
    learner = await factory.user(name="被查人")
    await post(admin_client, f"/admin/learners/{learner.id}/phone", phone="13800000008", op="save")
    await post(admin_client, f"/admin/batches/{batch.id}/close")
    by_target = await audit_rows(admin_client, "?target=%E8%A2%AB%E6%9F%A5%E4%BA%BA")
    assert "更改手机号" in by_target and "结束批次" not in by_target
    by_actor = await audit_rows(
        admin_client, "?actor=%E7%8E%8B%E7%AE%A1%E7%90%86&action=batch.close"
    )
    assert "结束批次" in by_actor and "更改手机号" not in by_actor
    day = svc.now().strftime("%Y-%m-%d")
    assert "结束批次" in plain(
        await text(await admin_client.get(f"/admin/audit?since={day}&until={day}"))
    )
    assert "没有符合条件" in plain(
        await text(await admin_client.get("/admin/audit?since=2030-01-01"))
    )
    page = plain(await text(await admin_client.get("/admin/audit?action=batch.close")))
    assert "学习截止时间" in page  # before and after values


async def test_audit__exported_by_the_worker(admin_client, svc, batch, worker):
    await post(admin_client, f"/admin/batches/{batch.id}/close")
    book = await run_export(admin_client, "/admin/audit/export?action=batch.close")
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[1][1] == "结束批次" and "学习截止时间" in rows[1][7]
