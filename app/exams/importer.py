"""Question import from Excel (.xlsx) or CSV, with a per-row error report.

Columns (first row that names them is the header; spellings as people type them):
题型, 题干, 选项A … 选项H, 答案, 解析, 章节. The file is read with the shared spreadsheet
reader (app/lib/spreadsheet.py), which checks its format, size and shape before parsing any
row; then the header is found, and every row is checked on its own and against the rest
of the file and the bank. Valid rows are imported in one transaction, so an import either
adds every valid row or, if anything unexpected fails, nothing at all. Invalid rows are
listed with the row number Excel shows and a Chinese reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError
from app.exams import attempts
from app.exams.models import Question, QuestionBank, QuestionType
from app.exams.paper import LETTERS
from app.lib import spreadsheet, workbook

LIMITS = spreadsheet.Limits()
MAX_ROWS = LIMITS.max_rows
MAX_BYTES = LIMITS.max_bytes
MAX_OPTIONS = 8
OPTION_LETTERS = LETTERS[:MAX_OPTIONS]

TYPE_WORDS = {
    QuestionType.SINGLE: {"单选", "单选题", "单项选择", "单项选择题", "single"},
    QuestionType.MULTIPLE: {"多选", "多选题", "多项选择", "多项选择题", "multiple"},
    QuestionType.JUDGE: {"判断", "判断题", "是非题", "judge", "truefalse", "true/false"},
}
JUDGE_WORDS = {
    "T": {"对", "正确", "√", "✓", "✔", "T", "TRUE", "是", "Y", "YES", "1"},
    "F": {"错", "错误", "×", "✗", "✘", "X", "F", "FALSE", "否", "N", "NO", "0"},
}
ALIASES = {
    "type": {"题型", "试题类型", "题目类型", "类型"},
    "stem": {"题干", "题目", "试题", "题目内容", "试题内容"},
    "answer": {"答案", "正确答案", "标准答案", "参考答案"},
    "explanation": {"解析", "答案解析", "试题解析", "说明"},
    "chapter": {"章节", "知识点", "章节标签", "分类", "所属章节"},
}
for _letter in OPTION_LETTERS:
    ALIASES[_letter] = {f"选项{_letter}", _letter, f"{_letter}选项", f"选项{_letter.lower()}"}
REQUIRED = ("type", "stem", "answer")
COLUMN_NAMES = {"type": "题型", "stem": "题干", "answer": "答案"}


@dataclasses.dataclass
class RowError:
    row: int
    message: str


@dataclasses.dataclass
class ImportReport:
    """What an import did: how many questions were added and why the others were not."""

    imported: int = 0
    errors: list[RowError] = dataclasses.field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.imported + len(self.errors)

    def summary(self) -> str:
        text = f"共 {self.rows} 行试题，成功导入 {self.imported} 道"
        if self.errors:
            text += f"，{len(self.errors)} 行有错误未导入（请修改后重新导入这些行）"
        return text

    def error_lines(self) -> list[str]:
        return [f"第 {e.row} 行：{e.message}" for e in self.errors]


@dataclasses.dataclass
class ParsedQuestion:
    type: str
    stem: str
    options: list[str]
    answer: str
    explanation: str
    chapter: str


def read_rows(data: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """The data rows of a file as (Excel row number, field -> text); file errors raise."""
    rows = spreadsheet.read_rows(data, file_name=filename, limits=LIMITS)
    found = spreadsheet.find_header(rows, ALIASES, anchor=REQUIRED)
    if found is None:
        missing = "、".join(COLUMN_NAMES.values())
        raise AppError(
            "bad_header",
            f"找不到表头：前 {spreadsheet.HEADER_ROWS} 行中没有同时包含“{missing}”的一行",
        )
    index, keys = found
    data_rows = []
    for row in rows[index + 1 :]:
        values = {key: value for key, value in zip(keys, row.cells, strict=False) if key}
        if any(values.values()):
            data_rows.append((row.number, values))
    if len(data_rows) > MAX_ROWS:
        raise AppError("bad_file", f"一次最多导入 {MAX_ROWS} 道试题，请拆分后导入")
    return data_rows


def _parse_type(text: str) -> str:
    word = text.replace(" ", "").lower()
    for qtype, words in TYPE_WORDS.items():
        if word in {w.lower() for w in words}:
            return qtype
    if not text:
        raise ValueError("缺少题型")
    raise ValueError(f"题型“{text}”无法识别，应为单选题、多选题或判断题")


def _options(values: dict[str, str]) -> list[str]:
    present = [letter for letter in OPTION_LETTERS if values.get(letter)]
    if not present:
        return []
    last = OPTION_LETTERS.index(present[-1])
    gaps = [letter for letter in OPTION_LETTERS[:last] if not values.get(letter)]
    if gaps:
        raise ValueError(f"选项不连续：缺少选项{'、'.join(gaps)}")
    return [values[letter] for letter in OPTION_LETTERS[: last + 1]]


def parse_row(values: dict[str, str]) -> ParsedQuestion:
    """One row as a question, or ValueError with the first thing wrong with it."""
    qtype = _parse_type(values.get("type", ""))
    stem = re.sub(r"\s+", " ", values.get("stem", "")).strip()
    if not stem:
        raise ValueError("缺少题干")
    if len(stem) > 1000:
        raise ValueError("题干超过 1000 字")
    raw_answer = values.get("answer", "").strip()
    if not raw_answer:
        raise ValueError("缺少答案")
    if qtype == QuestionType.JUDGE:
        word = raw_answer.upper()
        answer = next((k for k, words in JUDGE_WORDS.items() if word in words), None)
        if answer is None:
            raise ValueError(f"判断题答案“{raw_answer}”无法识别，应为“对”或“错”")
        options: list[str] = []
    else:
        options = _options(values)
        if len(options) < 2:
            raise ValueError("选择题至少需要两个选项")
        if any(len(o) > 500 for o in options):
            raise ValueError("选项内容超过 500 字")
        letters = re.sub(r"[\s,，、;；/|.．]", "", raw_answer).upper()
        if not letters or not all(ch in OPTION_LETTERS for ch in letters):
            raise ValueError(f"答案“{raw_answer}”格式不正确，应填写选项字母，如 A 或 ABD")
        outside = sorted({ch for ch in letters if ch not in LETTERS[: len(options)]})
        if outside:
            raise ValueError(
                f"答案中的 {'、'.join(outside)} 不在选项中（本题只有 A–{LETTERS[len(options) - 1]} 共 {len(options)} 个选项）"
            )
        answer = "".join(sorted(set(letters)))
        if qtype == QuestionType.SINGLE and len(answer) != 1:
            raise ValueError("单选题只能有一个正确答案")
        if qtype == QuestionType.MULTIPLE and len(answer) < 2:
            raise ValueError("多选题至少要有两个正确答案")
    return ParsedQuestion(
        type=qtype,
        stem=stem,
        options=options,
        answer=answer,
        explanation=values.get("explanation", ""),
        chapter=values.get("chapter", "")[:100],
    )


async def import_questions(
    *,
    session: AsyncSession,
    bank: QuestionBank,
    rows: list[tuple[int, dict[str, str]]],
    now: dt.datetime,
) -> ImportReport:
    """Check every row and add the valid ones to the bank; report the others."""
    report = ImportReport()
    existing = set(await session.scalars(select(Question.stem).where(Question.bank_id == bank.id)))
    seen: dict[str, int] = {}
    for row_number, values in rows:
        try:
            question = parse_row(values)
        except ValueError as error:
            report.errors.append(RowError(row_number, str(error)))
            continue
        if question.stem in seen:
            report.errors.append(RowError(row_number, f"题干与第 {seen[question.stem]} 行重复"))
            continue
        if question.stem in existing:
            report.errors.append(RowError(row_number, "题库中已有相同题干的试题"))
            continue
        seen[question.stem] = row_number
        session.add(
            Question(
                bank_id=bank.id,
                type=question.type,
                stem=question.stem,
                options=json.dumps(question.options, ensure_ascii=False),
                answer=question.answer,
                explanation=question.explanation,
                chapter=question.chapter,
                active=True,
                created_at=now,
            )
        )
        report.imported += 1
    report.errors.sort(key=lambda e: e.row)
    await session.flush()
    attempts.forget_pool(session=session, bank_id=bank.id)
    return report


TEMPLATE_HEADER = ["题型", "题干", "选项A", "选项B", "选项C", "选项D", "答案", "解析", "章节"]
TEMPLATE_EXAMPLES = (
    [
        "单选题",
        "生产经营单位的主要负责人对本单位的安全生产工作负有什么责任？",
        "全面负责",
        "部分负责",
        "监督责任",
        "不负责任",
        "A",
        "《安全生产法》第五条：主要负责人是本单位安全生产第一责任人。",
        "安全生产法律法规",
    ],
    [
        "多选题",
        "下列属于从业人员安全生产权利的有：",
        "知情权",
        "建议权",
        "拒绝违章指挥权",
        "免于培训权",
        "ABC",
        "从业人员有接受安全生产教育和培训的义务。",
        "安全生产法律法规",
    ],
    ["判断题", "特种作业人员必须持证上岗。", "", "", "", "", "对", "", "安全生产管理"],
)
TEMPLATE_RULES = (
    ("列", "填写要求"),
    ("示例", "第2至4行是每种题型的示例，导入前请删除或改写，否则会作为试题导入。"),
    ("题型", "必填：单选题、多选题或判断题（也认“单选”“多选”“判断”）。"),
    ("题干", "必填，不超过 1000 字；与本题库已有试题题干相同的行会跳过。"),
    (
        "选项A…选项H",
        f"选择题至少填两个选项，最多 {MAX_OPTIONS} 个，须从选项A起连续填写；每个选项不超过 500 字；"
        "判断题不填。需要更多选项时在表头加“选项E”“选项F”……",
    ),
    (
        "答案",
        "必填。单选题填一个字母（如 A）；多选题填两个及以上字母（如 ABD），须都在已填的选项中；"
        "判断题填“对”或“错”（也认“正确/错误”“√/×”）。",
    ),
    ("解析", "选填：考试结束后才会显示给学员。"),
    ("章节", "选填，不超过 100 字，用于按章节统计。"),
    ("表头", "第一行为表头（前几行中同时有“题型”“题干”“答案”的一行即可），列的顺序不限。"),
    ("文件", f"Excel（.xlsx）或 CSV（UTF-8 或 GBK），一次最多 {MAX_ROWS} 道试题。"),
    ("错误", "有错误的行不导入，其余照常导入；页面列出每个错误行的行号和原因，改正后可再次导入。"),
)


def template_workbook() -> bytes:
    """试题导入模板: the columns with one example of each question type, and the rules."""
    questions = workbook.Sheet(
        "试题",
        header=TEMPLATE_HEADER,
        rows=[list(row) for row in TEMPLATE_EXAMPLES],
        widths=(10, 50, 16, 16, 16, 16, 8, 40, 16),
    )
    rules = workbook.Sheet("填写说明", rows=[list(row) for row in TEMPLATE_RULES], widths=(14, 100))
    return workbook.xlsx_bytes([questions, rules])
