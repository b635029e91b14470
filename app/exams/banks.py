"""Question banks for administrators: listing, browsing, editing, (de)activating,
deleting unused questions, and statistics from graded attempts.

A question that a paper has used keeps its type, stem, options and answer for good:
attempts show and grade it from those columns, so changing them would change papers
already sat (or being sat). Such a question can still get a better explanation or
chapter, and can be deactivated so that no new paper draws it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.errors import AppError, Invalid, NotFound
from app.exams import attempts, importer
from app.exams import paper as papers
from app.exams.models import (
    TYPE_LABELS,
    Attempt,
    ExamPolicy,
    Question,
    QuestionBank,
)
from app.learning.models import Batch
from app.lib.paging import Page

QUESTION_LABELS = {
    "type": "题型",
    "stem": "题干",
    "options": "选项",
    "answer": "答案",
    "explanation": "解析",
    "chapter": "章节",
}


@dataclasses.dataclass
class BankRow:
    bank: QuestionBank
    active: dict[str, int]
    inactive: int
    batches: list[str]

    @property
    def total_active(self) -> int:
        return sum(self.active.values())


async def get_all(*, session: AsyncSession) -> list[BankRow]:
    """Every bank with its active questions per type and the batches drawing from it."""
    banks = list(await session.scalars(select(QuestionBank).order_by(QuestionBank.id)))
    rows = {b.id: BankRow(b, {}, 0, []) for b in banks}
    counts = await session.execute(
        select(Question.bank_id, Question.type, Question.active, func.count()).group_by(
            Question.bank_id, Question.type, Question.active
        )
    )
    for bank_id, qtype, active, n in counts:
        if active:
            rows[bank_id].active[qtype] = n
        else:
            rows[bank_id].inactive += n
    for bank_id, name in await session.execute(
        select(ExamPolicy.bank_id, Batch.name)
        .join(Batch, Batch.id == ExamPolicy.batch_id)
        .order_by(Batch.id)
    ):
        rows[bank_id].batches.append(name)
    return list(rows.values())


async def get(*, session: AsyncSession, bank_id: int) -> QuestionBank:
    bank = await session.get(QuestionBank, bank_id)
    if bank is None:
        raise NotFound("题库不存在")
    return bank


async def create(*, session: AsyncSession, now: dt.datetime, actor, name: str) -> QuestionBank:
    """A new, empty bank with a unique name."""
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise Invalid({"name": "请填写题库名称（不超过 100 个字）"})
    if await session.scalar(select(QuestionBank.id).where(QuestionBank.name == name)):
        raise Invalid({"name": f"已有名为《{name}》的题库"})
    bank = QuestionBank(name=name, created_at=now)
    session.add(bank)
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="bank.create",
        detail=f"新建题库《{name}》",
        ip=actor.ip,
    )
    return bank


async def import_file(
    *,
    session: AsyncSession,
    now: dt.datetime,
    actor,
    bank: QuestionBank,
    data: bytes,
    filename: str,
) -> importer.ImportReport:
    """Import an .xlsx/.csv file into a bank; the report lists every refused row."""
    rows = importer.read_rows(data, filename)
    report = await importer.import_questions(session=session, bank=bank, rows=rows, now=now)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="bank.import",
        detail=f"向题库《{bank.name}》导入文件《{filename}》：{report.summary()}",
        ip=actor.ip,
    )
    return report


@dataclasses.dataclass
class QuestionFilter:
    type: str = ""
    chapter: str = ""
    state: str = ""  # "", "active", "inactive"
    q: str = ""


async def chapters(*, session: AsyncSession, bank_id: int) -> list[str]:
    """The chapters used in a bank, for the filter."""
    rows = await session.scalars(
        select(Question.chapter)
        .where(Question.bank_id == bank_id, Question.chapter != "")
        .distinct()
        .order_by(Question.chapter)
    )
    return list(rows)


async def browse(
    *, session: AsyncSession, bank_id: int, filters: QuestionFilter, page: int, per_page: int = 20
) -> Page[Question]:
    """A page of a bank's questions, filtered by type, chapter, state and text."""
    conditions = [Question.bank_id == bank_id]
    if filters.type in TYPE_LABELS:
        conditions.append(Question.type == filters.type)
    if filters.chapter:
        conditions.append(Question.chapter == filters.chapter)
    if filters.state == "active":
        conditions.append(Question.active.is_(True))
    elif filters.state == "inactive":
        conditions.append(Question.active.is_(False))
    if filters.q:
        conditions.append(Question.stem.contains(filters.q, autoescape=True))
    total = await session.scalar(select(func.count(Question.id)).where(*conditions))
    result = Page.of(page, per_page, total or 0)
    rows = await session.scalars(
        select(Question)
        .where(*conditions)
        .order_by(Question.id)
        .offset(result.offset)
        .limit(per_page)
    )
    result.items = list(rows)
    return result


async def get_question(*, session: AsyncSession, question_id: int) -> Question:
    question = await session.get(Question, question_id)
    if question is None:
        raise NotFound("试题不存在")
    return question


async def times_used(*, session: AsyncSession, question_id: int) -> int:
    """How many papers (open or closed) contain a question."""
    return await session.scalar(
        select(func.count(Attempt.id)).where(Attempt.paper.contains(f'"{question_id}":'))
    )


def _content(question: Question) -> dict[str, object]:
    return {
        "type": question.type,
        "stem": question.stem,
        "options": question.options,
        "answer": question.answer,
        "explanation": question.explanation,
        "chapter": question.chapter,
    }


def form_values(question: Question) -> dict[str, str]:
    """A question as the edit form (and the importer) spells it."""
    values = {
        "type": TYPE_LABELS[question.type],
        "stem": question.stem,
        "explanation": question.explanation,
        "chapter": question.chapter,
        "answer": {"T": "对", "F": "错"}.get(question.answer, question.answer),
    }
    for letter, text in zip(papers.LETTERS, json.loads(question.options), strict=False):
        values[letter] = text
    return values


async def update_question(
    *, session: AsyncSession, now: dt.datetime, actor, question: Question, values: dict[str, str]
) -> dict:
    """Edit a question with the importer's rules; a used question keeps its content."""
    try:
        parsed = importer.parse_row(values)
    except ValueError as error:
        raise Invalid({"question": str(error)}) from None
    after = {
        "type": parsed.type,
        "stem": parsed.stem,
        "options": json.dumps(parsed.options, ensure_ascii=False),
        "answer": parsed.answer,
        "explanation": parsed.explanation,
        "chapter": parsed.chapter,
    }
    before = _content(question)
    locked = [k for k in ("type", "stem", "options", "answer") if before[k] != after[k]]
    if locked:
        used = await times_used(session=session, question_id=question.id)
        if used:
            raise Invalid(
                {
                    "question": f"该题已被 {used} 份试卷使用，题型、题干、选项和答案不能再修改"
                    "（否则会改变这些试卷的内容和成绩）；可以修改解析和章节，或停用该题后新增一道试题"
                }
            )
    if after["stem"] != before["stem"]:
        clash = await session.scalar(
            select(Question.id).where(
                Question.bank_id == question.bank_id,
                Question.stem == after["stem"],
                Question.id != question.id,
            )
        )
        if clash:
            raise Invalid({"question": f"题库中已有相同题干的试题（编号 {clash}）"})
    changes = audit.diff(before, after, QUESTION_LABELS)
    if changes:
        for name, value in after.items():
            setattr(question, name, value)
        await session.flush()
        attempts.forget_pool(session=session, bank_id=question.bank_id)
        await audit.record(
            session=session,
            now=now,
            actor_id=actor.id,
            action="question.update",
            detail=f"修改试题 {question.id}：{'、'.join(changes)}",
            ip=actor.ip,
            changes=changes,
        )
    return changes


async def set_active(
    *, session: AsyncSession, now: dt.datetime, actor, question: Question, active: bool
) -> None:
    """Let new papers draw a question, or stop them (papers already drawn keep it)."""
    if question.active == active:
        return
    question.active = active
    await session.flush()
    attempts.forget_pool(session=session, bank_id=question.bank_id)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="question.activate" if active else "question.deactivate",
        detail=f"{'启用' if active else '停用'}试题 {question.id}：{question.stem[:40]}",
        ip=actor.ip,
    )


async def delete_question(*, session: AsyncSession, now: dt.datetime, actor, question: Question):
    """Delete a question no paper ever used (others can only be deactivated)."""
    used = await times_used(session=session, question_id=question.id)
    if used:
        raise AppError(
            "question_used", f"该题已被 {used} 份试卷使用，不能删除（可以停用，停用后不再抽到该题）"
        )
    await session.delete(question)
    await session.flush()
    attempts.forget_pool(session=session, bank_id=question.bank_id)
    await audit.record(
        session=session,
        now=now,
        actor_id=actor.id,
        action="question.delete",
        detail=f"删除试题 {question.id}：{question.stem[:40]}",
        ip=actor.ip,
    )
