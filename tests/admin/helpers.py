"""Helpers for the administration tests: forms posted as a browser would, data reads."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.clock import SHANGHAI
from tests.factories import csrf_of


async def text(response) -> str:
    return html.unescape(await response.get_data(as_text=True))


async def post(client, path, **form):
    form["csrf_token"] = await csrf_of(client)
    return await client.post(path, form=form)


def local(value: dt.datetime) -> str:
    """An instant as a datetime-local field value."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def field_error(page: str, name: str) -> str | None:
    """The message shown next to a form field, if any."""
    found = re.search(rf'id="err-{re.escape(name)}"[^>]*>([^<]*)<', page)
    return found.group(1) if found else None


async def audit_count(svc, action: str) -> int:
    async with svc.db.read() as db:
        return await db.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        )


def batch_form(now: dt.datetime, **overrides) -> dict[str, str]:
    """A sensible new-batch form: 32 学时, 10 days, study 60 days, exam for 30 days after."""
    form = {
        "name": "注册安全工程师继续教育 2026年第二期",
        "required_minutes": "1280",
        "required_public_minutes": "640",
        "min_study_days": "10",
        "study_deadline": local(now + dt.timedelta(days=60)),
        "exam_opens_at": local(now + dt.timedelta(days=20)),
        "exam_closes_at": local(now + dt.timedelta(days=90)),
        "attention_checks": "1",
        "attention_min_minutes": "10",
        "attention_max_minutes": "20",
    }
    form.update({k: str(v) for k, v in overrides.items()})
    return form


def plain(page: str) -> str:
    """A page's text without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page))
