"""学员档案: everything about one learner in one place, for the page and for a PDF.

Profile, photo and phone; per batch the requirements, per-course credited minutes and
completion and the study days; every attempt with its score and history; certificates;
and the audit trail of admin actions on the account.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import ROLE_LABELS, Role, User
from app.audit import service as audit
from app.certificates import service as certificates
from app.clock import duration_text, shanghai_text
from app.config import ROOT, Config
from app.exams import records
from app.learning import credit, exemptions
from app.learning import service as learning
from app.learning.models import Batch
from app.lib import pdf


@dataclasses.dataclass
class BatchRecord:
    batch: Batch
    enrolled_at: dt.datetime
    progress: learning.BatchProgress
    courses: list[learning.CourseRow]
    days: list  # StudyDay rows of this batch, newest first

    @property
    def watched_minutes(self) -> int:
        return (
            sum(min(v.watched_ms, v.video.duration_ms) for r in self.courses for v in r.videos)
            // 60000
        )


@dataclasses.dataclass
class LearnerRecord:
    user: User
    batches: list[BatchRecord]
    attempts: list[records.RecordRow]
    events: dict[int, list]
    certificates: list
    history: list[audit.EntryView]
    locked_until: dt.datetime | None
    # Excused from attention checks (防挂机), e.g. a screen-reader user: why and since when.
    attention_exemption: exemptions.Exemption | None = None

    @property
    def roles(self) -> list[str]:
        return [ROLE_LABELS[r] for r in Role if r.value in self.user.role_names]


async def build(
    *, session: AsyncSession, redis, config: Config, user: User, enrolments, now: dt.datetime
) -> LearnerRecord:
    """Collect a learner's record from each area's services."""
    days = await credit.study_days(session=session, user_id=user.id)
    batch_records = []
    for enrolment in enrolments:
        batch = enrolment.batch
        batch_records.append(
            BatchRecord(
                batch=batch,
                enrolled_at=enrolment.enrolled_at,
                progress=await learning.batch_progress(
                    session=session, user_id=user.id, batch_id=batch.id
                ),
                courses=await learning.course_rows(
                    session=session, user_id=user.id, batch_id=batch.id
                ),
                days=[d for d in days if d.batch_id == batch.id],
            )
        )
    attempts = await records.records(session=session, user_id=user.id)
    history = await audit.get_all(session=session, target_user_id=user.id, per_page=500)
    return LearnerRecord(
        user=user,
        batches=batch_records,
        attempts=attempts,
        events=await records.events_of(
            session=session, attempt_ids=[row.attempt.id for row in attempts]
        ),
        certificates=await certificates.certificates_of(session=session, user_id=user.id),
        history=history.items,
        locked_until=await accounts.locked_until(redis, config=config, user=user, now=now),
        attention_exemption=await exemptions.get(session=session, user_id=user.id),
    )


_env = Environment(
    loader=FileSystemLoader(str(ROOT / "templates")),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_env.filters["shanghai"] = shanghai_text
_env.filters["clock"] = duration_text
_env.globals["local_time"] = shanghai_text


def render_pdf(record: LearnerRecord, *, photo: Path | None, centre_name: str, now) -> bytes:
    """The record as a printable PDF (for a dispute): what the page shows, on A4."""
    images = {}
    if photo is not None and photo.is_file():
        images["record:photo"] = (
            "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()
        )
    html = _env.get_template("admin/record_pdf.html").render(
        r=record,
        centre_name=centre_name,
        printed_at=now,
        has_photo="record:photo" in images,
    )
    return pdf.html_to_pdf(
        html, images=images, meta={"title": f"学员档案 {record.user.name}", "author": centre_name}
    )
