"""Registration events: a notice posted on an applicant's board is also e-mailed to them
(when they left an address) once the unit of work that posted it has committed."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from app import events
from app.registration.models import Person


@dataclasses.dataclass(frozen=True)
class NoticePosted:
    notice_id: int
    user_id: int
    title: str
    body: str


@events.handles(NoticePosted)
async def mail_notices(svc, posted: list[NoticePosted]) -> None:
    """Queue an e-mail per notice to applicants with an address on file."""
    async with svc.db.read() as db:
        rows = await db.execute(
            select(Person.user_id, Person.email).where(
                Person.user_id.in_({p.user_id for p in posted}), Person.email != ""
            )
        )
        emails = dict(rows.tuples().all())
    for notice in posted:
        if notice.user_id in emails:
            subject = f"【{svc.config.centre_name}】{notice.title}"
            await svc.enqueue("send_mail", emails[notice.user_id], subject, notice.body)
