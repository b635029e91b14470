import argparse
import asyncio
import io
import json

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.cli import cmd_import_questions
from app.errors import AppError
from app.exams import importer
from app.exams.models import Question, QuestionBank
from devtools.demo import exams as exams_demo
from tests.spreadsheets import HOSTILE

HEADER = ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "答案", "解析", "章节"]
GOOD = [
    [
        "单选题",
        "安全生产工作坚持的方针是（  ）。",
        "安全第一、预防为主、综合治理",
        "效益优先",
        "先生产后安全",
        "以上都不对",
        "A",
        "见安全生产法第三条",
        "法规",
    ],
    ["多选", "灭火的基本方法有（  ）。", "冷却", "窒息", "隔离", "加压", "A,B,C", "", "技术"],
    ["判断题", "安全带应高挂低用。", "", "", "", "", "√", "", "施工"],
]


def _csv(rows, header=HEADER) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx(rows, header=HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["题库导入模板（请勿删除表头）"])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def _import(svc, data: bytes, name: str):
    rows = importer.read_rows(data, name)
    async with svc.db.write() as db:
        from app.exams import policies

        bank = await policies.get_or_create_bank(session=db, name="测试题库", now=svc.now())
        return await importer.import_questions(session=db, bank=bank, rows=rows, now=svc.now())


async def _questions(svc) -> list[Question]:
    async with svc.db.read() as db:
        return list(await db.scalars(select(Question).order_by(Question.id)))


async def test_import__csv_valid_rows_are_stored_normalised(svc):
    report = await _import(svc, _csv(GOOD), "题库.csv")
    assert report.imported == 3 and report.errors == []
    single, multiple, judge = await _questions(svc)
    assert (single.type, single.answer, json.loads(single.options)[0]) == (
        "single",
        "A",
        "安全第一、预防为主、综合治理",
    )
    assert (multiple.type, multiple.answer, len(json.loads(multiple.options))) == (
        "multiple",
        "ABC",
        4,
    )
    assert (judge.type, judge.answer, judge.options) == ("judge", "T", "[]")


async def test_import__xlsx_with_a_title_row_above_the_header(svc):
    report = await _import(svc, _xlsx(GOOD), "题库.xlsx")
    assert report.imported == 3 and report.errors == []


async def test_import__every_bad_row_is_reported_and_the_rest_imported(svc):
    rows = [
        GOOD[0],
        ["单选题", "缺少答案的题（  ）。", "甲", "乙", "", "", "", "", ""],
        ["单选题", "答案不在选项中（  ）。", "甲", "乙", "丙", "", "D", "", ""],
        ["单选题", "安全生产工作坚持的方针是（  ）。", "甲", "乙", "", "", "A", "", ""],
        ["问答题", "题型不对（  ）。", "甲", "乙", "", "", "A", "", ""],
        ["多选题", "多选只有一个答案（  ）。", "甲", "乙", "丙", "", "B", "", ""],
        ["单选题", "单选两个答案（  ）。", "甲", "乙", "丙", "", "AB", "", ""],
        ["判断题", "判断答案无法识别。", "", "", "", "", "也许", "", ""],
        ["单选题", "选项不连续（  ）。", "甲", "", "丙", "", "A", "", ""],
        ["单选题", "", "甲", "乙", "", "", "A", "", ""],
        ["单选题", "只有一个选项（  ）。", "甲", "", "", "", "A", "", ""],
        GOOD[2],
    ]
    report = await _import(svc, _csv(rows), "题库.csv")
    assert report.imported == 2
    assert report.error_lines() == [
        "第 3 行：缺少答案",
        "第 4 行：答案中的 D 不在选项中（本题只有 A–C 共 3 个选项）",
        "第 5 行：题干与第 2 行重复",
        "第 6 行：题型“问答题”无法识别，应为单选题、多选题或判断题",
        "第 7 行：多选题至少要有两个正确答案",
        "第 8 行：单选题只能有一个正确答案",
        "第 9 行：判断题答案“也许”无法识别，应为“对”或“错”",
        "第 10 行：选项不连续：缺少选项B",
        "第 11 行：缺少题干",
        "第 12 行：选择题至少需要两个选项",
    ]
    assert (
        report.summary()
        == "共 12 行试题，成功导入 2 道，10 行有错误未导入（请修改后重新导入这些行）"
    )
    assert len(await _questions(svc)) == 2


async def test_import__stems_already_in_the_bank_are_reported(svc):
    await _import(svc, _csv(GOOD), "a.csv")
    report = await _import(svc, _csv(GOOD), "a.csv")
    assert report.imported == 0
    assert {e.message for e in report.errors} == {"题库中已有相同题干的试题"}
    assert len(await _questions(svc)) == 3


async def test_import__gbk_csv_from_excel_is_read():
    rows = importer.read_rows(_csv(GOOD).decode("utf-8-sig").encode("gb18030"), "x.csv")
    assert rows[0][1]["stem"] == "安全生产工作坚持的方针是（  ）。"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"whatever", "题库.txt", r"请上传 Excel 2007 及以上版本的 \.xlsx 文件或 \.csv 文件"),
        (b"not a zip", "题库.xlsx", "无法读取该文件"),
        (_csv(GOOD, header=["题目类别", "内容", "A", "B"]), "题库.csv", "找不到表头"),
    ],
)
async def test_import__unreadable_files_are_refused_as_a_whole(data, name, message):
    with pytest.raises(AppError, match=message):
        importer.read_rows(data, name)


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_import__hostile_file_is_refused_and_changes_nothing(
    svc, config, tmp_path, capsys, name
):
    build, message = HOSTILE[name]
    path = tmp_path / "题库.xlsx"
    path.write_bytes(build())
    args = argparse.Namespace(file=str(path), bank="CLI 题库")
    code = await asyncio.to_thread(cmd_import_questions, args, config)
    assert code == 1 and message in capsys.readouterr().err
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count()).select_from(QuestionBank)) == 0
    assert await _questions(svc) == []


async def test_import__gbk_csv_and_xlsx_with_numbers_and_too_many_columns():
    rows = [["判断题", "数字答案。", "", "", "", "", 1, "", 2026]]
    assert importer.read_rows(_xlsx(rows), "x.xlsx")[0][1]["answer"] == "1"
    wide = _csv(GOOD, header=[*HEADER, *(f"备注{n}" for n in range(50))])
    with pytest.raises(AppError, match="超过上限 50 列"):
        importer.read_rows(wide, "x.csv")


async def test_import__demo_bank_file_is_clean_and_big_enough(svc):
    async with svc.db.write() as db:
        bank = await exams_demo.seed_bank(session=db, now=svc.now())
    async with svc.db.read() as db:
        counts = dict(
            (
                await db.execute(
                    select(Question.type, func.count())
                    .where(Question.bank_id == bank.id)
                    .group_by(Question.type)
                )
            ).all()
        )
    assert sum(counts.values()) >= 120
    assert counts["single"] >= 60 and counts["multiple"] >= 20 and counts["judge"] >= 30


async def test_cli__import_questions_prints_the_report(svc, config, tmp_path, capsys):
    path = tmp_path / "题库.csv"
    path.write_bytes(_csv([*GOOD, ["单选题", "缺答案（  ）。", "甲", "乙", "", "", "", "", ""]]))
    args = argparse.Namespace(file=str(path), bank="CLI 题库")
    code = await asyncio.to_thread(cmd_import_questions, args, config)
    out = capsys.readouterr().out
    assert code == 1
    assert len(await _questions(svc)) == 3
    assert "题库《CLI 题库》：共 4 行试题，成功导入 3 道，1 行有错误未导入" in out
    assert "第 5 行：缺少答案" in out


async def test_cli__import_questions_missing_file_says_so(config, tmp_path, capsys):
    args = argparse.Namespace(file=str(tmp_path / "no.csv"), bank="x")
    code = await asyncio.to_thread(cmd_import_questions, args, config)
    assert code == 1
    assert "导入失败：找不到文件" in capsys.readouterr().err
