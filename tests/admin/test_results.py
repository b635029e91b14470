"""Exam results tell the truth: a voided paper counts in no score (page, charts, averages,
pass rate, 最高成绩, the export, question statistics) and is shown as 已作废 wherever it is
listed; numbers in the export are number cells; the 试题难度 report gives Moodle's facility
and discrimination indexes and the choices per option, flagging questions to review."""

from __future__ import annotations

import html
import json
import re
import statistics as stdlib

import pytest

from app.admin.reports import results
from app.exams import grading, statistics, voiding
from app.exams import paper as papers
from tests.admin.helpers import plain, text
from tests.admin.test_reports import run_export
from tests.exams.conftest import Exams

# Every paper holds the same 36 true/false questions of the demo bank, 2.5 points each.
ALL_JUDGE = dict(
    single_count=0,
    single_points=1.0,
    multiple_count=0,
    multiple_points=1.0,
    judge_count=36,
    judge_points=2.5,
    pass_mark=60.0,
)


@pytest.fixture
def exams(svc, factory):
    return Exams(svc, factory)


def _flip(value: str) -> str:
    return "F" if value == "T" else "T"


async def _sit(svc, exams, batch, name, *, right, end="submit", reason="替考"):
    """A learner sits a paper answering right the questions ``right(i, qid)`` says."""
    learner = await exams.eligible(batch, name=name)
    attempt = await exams.start(learner, batch)
    await exams.join(attempt)
    key = await exams.key(attempt)
    values = {
        qid: (value if right(i, qid) else _flip(value))
        for i, (qid, value) in enumerate(sorted(key.items()))
    }
    await exams.save(attempt, values)
    async with svc.db.write() as db:
        if end == "force":
            await grading.force_submit(session=db, attempt_id=attempt.id, now=svc.now(), why="作弊")
        else:
            await grading.submit(
                session=db, attempt_id=attempt.id, user_id=learner.id, now=svc.now()
            )
    if end == "void":
        async with svc.db.write() as db:
            await voiding.void_attempt(
                session=db, attempt_id=attempt.id, reason=reason, now=svc.now()
            )
    return learner, attempt, sorted(key)


async def _cohort(svc, exams):
    """王全对 right everywhere but the first question; 李一半 right on the first half;
    赵全错 wrong everywhere but the first question; 钱作废 right everywhere, then voided;
    孙强制 forced to hand in with the second half right."""
    batch = await exams.batch(policy=ALL_JUDGE)
    _, _, qids = await _sit(svc, exams, batch, "王全对", right=lambda i, q: i != 0)
    await _sit(svc, exams, batch, "李一半", right=lambda i, q: i < 18)
    await _sit(svc, exams, batch, "赵全错", right=lambda i, q: i == 0)
    await _sit(svc, exams, batch, "钱作废", right=lambda i, q: True, end="void")
    await _sit(svc, exams, batch, "孙强制", right=lambda i, q: i >= 18, end="force")
    return batch, qids


async def test_results__a_voided_paper_counts_in_no_score(admin_client, svc, exams):
    batch, _ = await _cohort(svc, exams)
    async with svc.db.read() as db:
        found = await results.results(session=db, batch=batch.batch)
    # 王 87.5 passes, 李 45, 赵 2.5, 孙 45 (forced counts); 钱's 90 is void.
    assert (found.enrolled, found.sat, found.passed, found.voided, found.voided_only) == (
        5,
        4,
        1,
        1,
        1,
    )
    assert found.average == round((87.5 + 45 + 2.5 + 45) / 4, 1)
    # Bands of the 90-point paper: 钱's voided 90 would be a second one at the top.
    assert sum(n for _, n in found.scores) == 4 and dict(found.scores)["90–100%"] == 1
    raw = await (
        await admin_client.get(f"/admin/reports?batch={batch.batch.id}&tab=results")
    ).get_data(as_text=True)
    assert re.search(r'id="r-sat">4<', raw) and re.search(r'id="r-rate">25.0%<', raw)
    assert re.search(r'id="r-voided">1<', raw) and "1 人的试卷全部作废" in plain(raw)
    charts = [json.loads(html.unescape(c)) for c in re.findall(r'data-chart="([^"]*)"', raw)]
    pie = dict(zip(charts[0]["labels"], charts[0]["values"], strict=True))
    assert pie == {"合格": 1, "未合格": 3, "试卷均已作废": 1, "未参加": 0}


async def test_results_export__numbers_are_numbers_and_voided_shows_as_voided(
    admin_client, svc, exams, worker
):
    batch, _ = await _cohort(svc, exams)
    book = await run_export(
        admin_client, "/admin/reports/export", kind="results", batch_id=str(batch.batch.id)
    )
    assert book.sheetnames == ["考试成绩", "考试明细"]
    summary = {row[0].value: row for row in book["考试成绩"].iter_rows(min_row=2)}
    assert [c.value for c in summary["王全对"]][3:] == [1, 0, 87.5, "合格"]
    assert summary["王全对"][5].data_type == "n" and summary["赵全错"][5].value == 2.5
    assert [c.value for c in summary["钱作废"]][3:] == [1, 1, None, "已作废"]
    assert [c.value for c in summary["孙强制"]][3:] == [1, 0, 45, "不合格"]
    assert summary["孙强制"][5].data_type == "n" and summary["孙强制"][1].data_type == "s"
    details = {row[0].value: row for row in book["考试明细"].iter_rows(min_row=2)}
    voided = [c.value for c in details["钱作废"]]
    assert voided[3] == 1 and voided[7:] == ["已作废", None, "已作废", "替考"]
    forced = [c.value for c in details["孙强制"]]
    assert forced[7:] == ["监考强制交卷", 45, "不合格", "作弊"]
    assert details["孙强制"][8].data_type == "n" and details["孙强制"][5].is_date


async def test_question_statistics__facility_discrimination_choices_without_voided(
    admin_client, svc, exams
):
    batch, qids = await _cohort(svc, exams)
    async with svc.db.read() as db:
        stats = await statistics.question_stats(session=db, batch_id=batch.batch.id)
        found = {d.question_id: d for d in await results.difficulty(session=db, batch=batch.batch)}
    assert set(stats) == set(qids)
    # Four papers count (钱's voided one does not); who got each question right:
    right = {
        "王": lambda i: i != 0,
        "李": lambda i: i < 18,
        "赵": lambda i: i == 0,
        "孙": lambda i: i >= 18,
    }
    for i in (0, 1, 20):
        stat = stats[qids[i]]
        x = [1.0 if ok(i) else 0.0 for ok in right.values()]
        totals = [2.5 * sum(ok(j) for j in range(36)) for ok in right.values()]
        rest = [t - 2.5 * xi for t, xi in zip(totals, x, strict=True)]
        assert stat.used == 4 and stat.correct == sum(x)
        assert stat.facility == pytest.approx(sum(x) / 4)
        assert stat.discrimination == pytest.approx(stdlib.correlation(x, rest))
        assert sum(stat.choices.values()) + stat.unanswered == 4
    # The first question is answered right by the weakest and wrong by the strongest.
    assert stats[qids[0]].discrimination < 0 and found[qids[0]].needs_review
    assert not found[qids[1]].needs_review
    first = found[qids[0]]
    assert sorted(n for _, n, _ in first.options) == [2, 2] and first.answer_text in ("对", "错")
    page = await (
        await admin_client.get(f"/admin/reports?batch={batch.batch.id}&tab=difficulty")
    ).get_data(as_text=True)
    assert 'id="review-count"' in page
    row = re.search(rf'<tr class="review" data-question="{qids[0]}">.*?</tr>', page, re.S)
    assert row and "需复查" in row.group(0) and "✓" in row.group(0)


async def test_question_statistics__too_few_papers_tell_no_discrimination(svc, exams):
    batch = await exams.batch(policy=ALL_JUDGE)
    _, _, qids = await _sit(svc, exams, batch, "独一人", right=lambda i, q: True)
    async with svc.db.read() as db:
        stats = await statistics.question_stats(session=db, batch_id=batch.batch.id)
    assert stats[qids[0]].discrimination is None and not stats[qids[0]].needs_review
    assert stats[qids[0]].facility == 1.0


async def test_difficulty_export__statistics_and_choices_as_numbers(
    admin_client, svc, exams, worker
):
    batch, qids = await _cohort(svc, exams)
    book = await run_export(
        admin_client, "/admin/reports/export", kind="difficulty", batch_id=str(batch.batch.id)
    )
    sheet = book.active
    header = [c.value for c in sheet[1]]
    assert header[:10] == [
        "试题编号",
        "题型",
        "题干",
        "章节",
        "使用次数",
        "答对次数",
        "难度系数（答对率 %）",
        "区分度",
        "需复查",
        "正确答案",
    ]
    assert header[-3:] == ["选对", "选错", "未作答"]
    rows = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    first = rows[qids[0]]
    values = dict(zip(header, [c.value for c in first], strict=True))
    assert values["使用次数"] == 4 and values["难度系数（答对率 %）"] == 50.0
    assert values["区分度"] < 0 and values["需复查"] == "是"
    assert values["选对"] + values["选错"] == 4 and values["选A"] is None
    assert first[header.index("区分度")].data_type == "n"
    assert papers.fmt_points(values["难度系数（答对率 %）"]) == "50"


async def test_reports__an_empty_batch_says_it_has_no_learners(admin_client, exams):
    batch = await exams.batch()
    progress = plain(await text(await admin_client.get(f"/admin/reports?batch={batch.batch.id}")))
    assert "本批次还没有报名学员" in progress and "所有学员均已达到学习要求" not in progress
    results_page = plain(
        await text(await admin_client.get(f"/admin/reports?batch={batch.batch.id}&tab=results"))
    )
    assert "本批次还没有报名学员，没有考试成绩" in results_page
