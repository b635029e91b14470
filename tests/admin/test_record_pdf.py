"""The learner record PDF (the dispute document) as poppler reads it: every row's full
text is there in words (no raw codes, user agents as people read them), every line wraps
inside the page, and voided and forced papers say so."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.audit import service as audit
from app.exams import grading, statuses, voiding
from app.exams.statuses import EventKind
from tests.exams.conftest import Exams

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="needs poppler-utils")

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
# What an invigilator may well type: one long sentence without a space to break at.
LONG_REASON = (
    "考生在考试过程中多次离开座位并与他人交谈，监考员两次提醒后仍未改正，"
    "经考场负责人确认后决定作废本次考试，请考生务必遵守考场纪律，不要再次违反规定，"
    "如有异议请在三个工作日内向培训中心提出书面申诉并附相关证明材料"
)
MESSAGE = "请注意：考试期间不要离开考试页面，" * 6 + "否则系统将自动交卷，不要"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "e2e" / "screenshots"


@pytest.fixture
def exams(svc, factory):
    return Exams(svc, factory)


async def _disputed(svc, exams, admin):
    """A learner forced to hand in once, then voided with a long reason, with the
    invigilator's long message in the audit trail."""
    batch = await exams.batch()
    learner = await exams.eligible(batch, name="周争议", work_unit="天津港" * 20)
    for end in ("force", "void"):
        attempt = await exams.start(learner, batch)
        async with svc.db.write() as db:
            from app.exams import attempts

            await attempts.record_event(
                session=db,
                attempt_id=attempt.id,
                kind=EventKind.JOIN,
                now=svc.now(),
                detail=statuses.device_detail("10.20.30.40", CHROME),
            )
        async with svc.db.write() as db:
            if end == "force":
                await grading.force_submit(
                    session=db, attempt_id=attempt.id, now=svc.now(), why="考生使用手机"
                )
            else:
                await voiding.void_attempt(
                    session=db, attempt_id=attempt.id, reason=LONG_REASON[:200], now=svc.now()
                )
        async with svc.db.write() as db:
            await audit.record(
                session=db,
                now=svc.now(),
                actor_id=admin.id,
                action="invigilation.message",
                target_user_id=learner.id,
                detail=f"发给 周争议：{MESSAGE}",
            )
    return learner


def _words(pdf: Path) -> list[tuple[float, float, float, float, float, float, str]]:
    """Every word poppler finds: page width and height, its box, its text."""
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    words = []
    size = (0.0, 0.0)
    for line in out.splitlines():
        page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', line)
        if page:
            size = (float(page[1]), float(page[2]))
        word = re.search(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>',
            line,
        )
        if word:
            words.append((*size, *(float(word[i]) for i in range(1, 5)), word[5]))
    return words


async def test_record_pdf__every_row_in_full_in_words_inside_the_page(
    admin_client, svc, exams, admin, tmp_path
):
    learner = await _disputed(svc, exams, admin)
    response = await admin_client.get(f"/admin/learners/{learner.id}/record.pdf")
    assert response.status_code == 200
    pdf = tmp_path / "record.pdf"
    pdf.write_bytes(await response.get_data())
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = re.sub(r"\s+", "", text)
    for whole in (
        LONG_REASON[:200],
        f"发给周争议：{MESSAGE}",
        "天津港" * 20,
        "10.20.30.40·Chrome156·Windows10",
        "监考强制交卷",
        "已作废",
        "监考员作废",
        "监考消息",
    ):
        assert re.sub(r"\s+", "", whole) in flat, whole
    for raw in ("voided", "disconnected", "invigilator", "Mozilla", "invigilation.message"):
        assert raw not in text
    words = _words(pdf)
    assert words
    for width, height, x0, y0, x1, y1, word in words:
        assert x0 >= 0 and x1 <= width - 30 and y0 >= 0 and y1 <= height, (word, x1, width)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "2",
            str(pdf),
            str(SCREENSHOTS / "record-pdf"),
        ],
        check=True,
    )
