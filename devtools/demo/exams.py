"""The demo question bank (imported from questions.csv) and the demo batch's policy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.exams import importer, policies
from app.exams.models import Question
from app.learning.models import Batch

DEMO_BANK = "注册安全工程师继续教育题库"
# Also a sample file for administrators: it is in the import format.
DEMO_FILE = Path(__file__).resolve().parent / "questions.csv"


async def seed_bank(*, session: AsyncSession, now: dt.datetime, name: str = DEMO_BANK):
    """The demo bank, filled from the sample file the first time."""
    bank = await policies.get_or_create_bank(session=session, name=name, now=now)
    count = await session.scalar(select(func.count()).where(Question.bank_id == bank.id))
    if not count:
        rows = importer.read_rows(DEMO_FILE.read_bytes(), DEMO_FILE.name)
        report = await importer.import_questions(session=session, bank=bank, rows=rows, now=now)
        if report.errors:
            raise RuntimeError("demo question bank has errors: " + "; ".join(report.error_lines()))
    return bank


async def seed(*, session: AsyncSession, batch: Batch, now: dt.datetime) -> None:
    """Give the demo batch the demo bank and the default policy (idempotent)."""
    bank = await seed_bank(session=session, now=now)
    if await policies.get_policy(session=session, batch_id=batch.id) is None:
        await policies.set_policy(session=session, batch_id=batch.id, bank_id=bank.id, now=now)
