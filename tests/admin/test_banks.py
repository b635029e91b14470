"""题库管理 and exam policies: importing with a per-row report, browsing, previewing,
editing (never what a paper used), deactivating, statistics from graded attempts, and
policies refused when the bank cannot fill them or papers are being answered."""

import io
import json

import pytest
from quart.datastructures import FileStorage
from sqlalchemy import func, select

from app.exams import policies
from app.exams.models import ExamPolicy, Question, QuestionBank
from tests.admin.helpers import audit_count, field_error, plain, post, text
from tests.exams.conftest import SMALL, Exams
from tests.factories import csrf_of


@pytest.fixture
def exams(svc, factory):
    return Exams(svc, factory)


CSV = (
    "题型,题干,选项A,选项B,选项C,选项D,答案,解析,章节\n"
    "单选题,安全生产工作坚持的方针是（  ）。,安全第一,效益优先,先生产后安全,都不对,A,第三条,法规\n"
    "多选题,灭火的基本方法有（  ）。,冷却,窒息,隔离,加压,ABC,,技术\n"
    "判断题,安全带应高挂低用。,,,,,对,,施工\n"
    "单选题,缺答案的题,甲,乙,,,,,\n"
    "多选题,只有一个答案的多选题,甲,乙,丙,,A,,\n"
)


async def make_bank(client, name="测试题库") -> int:
    response = await post(client, "/admin/banks", name=name)
    assert response.status_code == 302, await text(response)
    return int(response.headers["Location"].split("/")[3].split("?")[0])


async def import_csv(client, bank_id, data: bytes, filename="题库.csv"):
    return await client.post(
        f"/admin/banks/{bank_id}/import",
        form={"csrf_token": await csrf_of(client)},
        files={"file": FileStorage(io.BytesIO(data), filename=filename, content_type="text/csv")},
    )


async def questions(svc, bank_id) -> list[Question]:
    async with svc.db.read() as db:
        return list(
            await db.scalars(
                select(Question).where(Question.bank_id == bank_id).order_by(Question.id)
            )
        )


async def test_bank__created_imported_with_a_row_report_and_browsed(admin_client, svc):
    bank_id = await make_bank(admin_client)
    response = await import_csv(admin_client, bank_id, CSV.encode())
    page = plain(await text(response))
    assert "共 5 行试题，成功导入 3 道，2 行有错误未导入" in page
    assert "第 5 行缺少答案" in page and "第 6 行多选题至少要有两个正确答案" in page
    assert len(await questions(svc, bank_id)) == 3
    assert await audit_count(svc, "bank.import") == 1
    only_multiple = plain(
        await text(await admin_client.get(f"/admin/banks/{bank_id}?type=multiple"))
    )
    assert "灭火的基本方法" in only_multiple and "安全带应高挂低用" not in only_multiple
    by_chapter = plain(
        await text(await admin_client.get(f"/admin/banks/{bank_id}?chapter=%E6%96%BD%E5%B7%A5"))
    )
    assert "安全带应高挂低用" in by_chapter and "灭火" not in by_chapter
    listing = plain(await text(await admin_client.get("/admin/banks")))
    assert "测试题库" in listing


async def test_bank__bad_names_and_files_are_refused(admin_client, svc):
    response = await post(admin_client, "/admin/banks", name=" ")
    assert response.status_code == 400 and "请填写题库名称" in field_error(
        await text(response), "name"
    )
    bank_id = await make_bank(admin_client)
    again = await post(admin_client, "/admin/banks", name="测试题库")
    assert again.status_code == 400 and "已有名为《测试题库》的题库" in field_error(
        await text(again), "name"
    )
    bad = await import_csv(admin_client, bank_id, b"not,a,question,file\n1,2,3,4\n")
    assert bad.status_code == 400 and "找不到表头" in await text(bad)
    wrong = await import_csv(admin_client, bank_id, b"%PDF-1.4", filename="题库.pdf")
    assert wrong.status_code == 400 and ".xlsx 文件或 .csv 文件" in await text(wrong)
    assert await questions(svc, bank_id) == []
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count(QuestionBank.id))) == 1


async def test_question__previewed_and_edited_with_the_import_rules(admin_client, svc):
    bank_id = await make_bank(admin_client)
    await import_csv(admin_client, bank_id, CSV.encode())
    single = (await questions(svc, bank_id))[0]
    page = plain(await text(await admin_client.get(f"/admin/questions/{single.id}")))
    assert "学员看到的样子" in page and "A. 安全第一" in page and "D. 都不对" in page
    form = {
        "type": "单选题",
        "stem": single.stem,
        "A": "安全第一、预防为主",
        "B": "效益优先",
        "C": "先生产后安全",
        "answer": "A",
        "explanation": "第三条",
        "chapter": "法规",
    }
    response = await post(admin_client, f"/admin/questions/{single.id}", **form)
    assert response.status_code == 302
    edited = (await questions(svc, bank_id))[0]
    assert json.loads(edited.options) == ["安全第一、预防为主", "效益优先", "先生产后安全"]
    log = plain(await text(await admin_client.get("/admin/audit?action=question.update")))
    assert "选项" in log
    bad = await post(admin_client, f"/admin/questions/{single.id}", **{**form, "answer": "E"})
    assert bad.status_code == 400 and "不在选项中" in await text(bad)
    assert (await questions(svc, bank_id))[0].answer == "A"


async def test_question__a_used_one_keeps_its_content_and_cannot_be_deleted(
    admin_client, svc, exams
):
    batch = await exams.batch()
    learner = await exams.eligible(batch)
    attempt = await exams.start(learner, batch)
    qid = int(next(iter(json.loads(attempt.paper))))
    async with svc.db.read() as db:
        question = await db.get(Question, qid)
    values = {
        "type": {"single": "单选题", "multiple": "多选题", "judge": "判断题"}[question.type],
        "stem": question.stem + "（改）",
        "answer": "对" if question.type == "judge" else question.answer,
    }
    for letter, option in zip("ABCDEFGH", json.loads(question.options), strict=False):
        values[letter] = option
    refused = await post(admin_client, f"/admin/questions/{qid}", **values)
    assert refused.status_code == 400
    assert "该题已被 1 份试卷使用，题型、题干、选项和答案不能再修改" in await text(refused)
    values["stem"] = question.stem
    values["explanation"] = "补充的解析"
    assert (await post(admin_client, f"/admin/questions/{qid}", **values)).status_code == 302
    gone = await post(admin_client, f"/admin/questions/{qid}/delete")
    assert gone.status_code == 400 and "不能删除" in await text(gone)
    assert (
        await post(admin_client, f"/admin/questions/{qid}/active", active="0")
    ).status_code == 302
    async with svc.db.read() as db:
        after = await db.get(Question, qid)
    assert after.stem == question.stem and after.explanation == "补充的解析" and not after.active


async def test_question__statistics_come_from_graded_attempts(admin_client, svc, exams):
    batch = await exams.batch()
    learner = await exams.eligible(batch)
    attempt = await exams.start(learner, batch)
    key = await exams.key(attempt)
    first, second = list(key)[:2]
    wrong = "B" if key[second] != "B" else "A"
    await exams.join(attempt)
    await exams.save(attempt, {first: key[first], second: wrong})
    from app.exams import grading

    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=attempt.id, user_id=learner.id, now=svc.now())
    page = plain(await text(await admin_client.get(f"/admin/questions/{first}")))
    assert "100.0%（1/1）" in page
    page = plain(await text(await admin_client.get(f"/admin/questions/{second}")))
    assert "0.0%（0/1）" in page
    report = plain(
        await text(await admin_client.get(f"/admin/reports?batch={batch.batch.id}&tab=difficulty"))
    )
    assert f"{len(key)} 道题" in report


def policy_form(bank_id, **changes) -> dict[str, str]:
    form = {
        "bank_id": bank_id,
        "single_count": 4,
        "single_points": 10,
        "multiple_count": 2,
        "multiple_points": 20,
        "judge_count": 2,
        "judge_points": 10,
        "duration_minutes": 120,
        "pass_mark": 60,
        "max_attempts": 3,
        "multiple_all_or_nothing": "1",
        "shuffle_options": "1",
        "disconnect_policy": "resume",
        "second_device": "takeover",
        "focus_warn_at": 3,
        "focus_submit_at": 5,
        "void_uses_attempt": "1",
    }
    form.update(changes)
    return {k: str(v) for k, v in form.items()}


async def test_policy__saved_from_the_batch_page(admin_client, svc, batch):
    bank_id = await make_bank(admin_client)
    await import_csv(admin_client, bank_id, CSV.encode())
    form = policy_form(
        bank_id,
        single_count=1,
        multiple_count=1,
        judge_count=1,
        single_points=40,
        multiple_points=30,
        judge_points=30,
    )
    response = await post(admin_client, f"/admin/batches/{batch.id}/policy", **form)
    assert response.status_code == 302, await text(response)
    async with svc.db.read() as db:
        policy = await policies.get_policy(session=db, batch_id=batch.id)
    assert (policy.focus_warn_at, policy.focus_submit_at, policy.void_uses_attempt) == (3, 5, True)
    assert await audit_count(svc, "policy.update") == 1


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"multiple_count": 10}, "multiple_count", "多选题需要 10 道，题库中只有 1 道"),
        ({"single_count": 5}, "single_count", "单选题需要 5 道，题库中只有 1 道"),
        ({"pass_mark": 500}, "policy", "合格分数应在 0 到试卷总分"),
        (
            {"focus_warn_at": 5, "focus_submit_at": 3},
            "focus_submit_at",
            "自动交卷次数应大于提醒次数",
        ),
        ({"duration_minutes": 0}, "duration_minutes", "考试时长应在 1 到 600 之间"),
        ({"disconnect_policy": "maybe"}, "disconnect_policy", "请选择断线规则"),
        ({"bank_id": ""}, "bank_id", "请选择题库"),
    ],
)
async def test_policy__bad_values_are_refused_and_change_nothing(
    admin_client, svc, batch, changes, field, message
):
    bank_id = await make_bank(admin_client)
    await import_csv(admin_client, bank_id, CSV.encode())
    form = policy_form(
        bank_id,
        single_count=1,
        multiple_count=1,
        judge_count=1,
        single_points=40,
        multiple_points=30,
        judge_points=30,
    )
    form.update({k: str(v) for k, v in changes.items()})
    response = await post(admin_client, f"/admin/batches/{batch.id}/policy", **form)
    assert response.status_code == 400
    page = await text(response)
    shown = field_error(page, field) if field != "policy" else plain(page)
    assert message in (shown or ""), plain(page)[:2000]
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count(ExamPolicy.id))) == 0


async def test_policy__papers_being_answered_block_changes_to_the_paper_only(
    admin_client, svc, exams
):
    batch = await exams.batch()
    learner = await exams.eligible(batch)
    await exams.start(learner, batch)
    bigger = policy_form(batch.bank_id, **{**SMALL, "single_count": 5})
    response = await post(admin_client, f"/admin/batches/{batch.batch.id}/policy", **bigger)
    assert response.status_code == 400
    assert "本批次有 1 场考试正在进行，修改单选题数会使正在答题学员的试卷与规则不一致" in plain(
        await text(response)
    )
    async with svc.db.read() as db:
        assert (await policies.get_policy(session=db, batch_id=batch.batch.id)).single_count == 4
    fewer_tries = policy_form(batch.bank_id, **{**SMALL, "max_attempts": 2})
    response = await post(admin_client, f"/admin/batches/{batch.batch.id}/policy", **fewer_tries)
    assert response.status_code == 302, plain(await text(response))[:1500]
    async with svc.db.read() as db:
        assert (await policies.get_policy(session=db, batch_id=batch.batch.id)).max_attempts == 2
    # Closing the batch waits for the papers too.
    close = await post(admin_client, f"/admin/batches/{batch.batch.id}/close")
    assert close.status_code == 400 and "1 场考试正在进行" in await text(close)
