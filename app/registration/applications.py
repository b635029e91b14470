"""Applications while the applicant fills them in: what may be started, the draft kept
between visits, and saving each section. Submitting is in ``submission``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.audit import service as audit
from app.clock import local_date
from app.errors import AppError, NotFound
from app.lib.http import MAX_ID
from app.registration import qualifications, registry, rules, sections
from app.registration.channels import CHANNELS
from app.registration.models import (
    KIND_LABELS,
    Application,
    Authority,
    Kind,
    Person,
    Qualification,
    Registration,
    Status,
    Submission,
)

STEPS = {
    Kind.INITIAL: ("channel", "personal", "employer", "experience", "preview"),
    Kind.LATE_INITIAL: ("channel", "personal", "employer", "education", "experience", "preview"),
    Kind.CHANGE: ("personal", "channel", "employer", "experience", "preview"),
    Kind.RENEWAL: ("personal", "employer", "education", "experience", "preview"),
    Kind.REREGISTRATION: ("channel", "employer", "experience", "preview"),
}
STEP_LABELS = {
    "channel": "选择注册渠道",
    "personal": "个人基本信息",
    "employer": "聘用单位信息",
    "education": "继续教育信息",
    "experience": "工作经历",
    "preview": "预览、打印和上报",
}


def step_label(kind: str, step: str) -> str:
    if kind == Kind.CHANGE and step == "channel":
        return "变更注册信息"
    return STEP_LABELS[step]


@dataclasses.dataclass
class Option:
    """A kind of application and whether this person may start it now."""

    kind: str
    ok: bool
    reason: str = ""  # why it cannot be started now
    note: str = ""  # what the applicant should know before starting it (why it is 逾期)

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


async def options(*, session: AsyncSession, user: User, now: dt.datetime) -> list[Option]:
    """Which applications the person may start today, each with the reason when not."""
    today = local_date(now)
    rule_set = await rules.current(session=session)
    records = await qualifications.of_user(session=session, user_id=user.id)
    latest = await registry.latest_of(session=session, user_id=user.id)
    barred = await registry.fraud_barred_until(session=session, user_id=user.id, rule_set=rule_set)
    bar = f"因以欺骗等不正当手段取得注册被注销，{_date(barred)}前不予注册" if barred else ""
    if barred and barred < today:
        bar = ""
    if latest is None:
        if not records:
            return [Option(Kind.INITIAL, False, "请先完成注册资格信息验证")]
        late = [r for r in records if today > rules.initial_deadline(rule_set, r.qualified_on)]
        found = []
        if len(late) < len(records):
            found.append(Option(Kind.INITIAL, not bar, bar))
        if late:
            newest = max(late, key=lambda r: r.qualified_on)
            found.append(
                Option(Kind.LATE_INITIAL, not bar, bar, late_note(rule_set, newest.qualified_on))
            )
        return found
    state = registry.state(latest, today)
    if state != "valid":
        why = "注册已注销" if state == "cancelled" else "注册已期满"
        return [Option(Kind.REREGISTRATION, not bar, bar or ""), Option(Kind.CHANGE, False, why)]
    window = rules.renewal_window(rule_set, latest.valid_until)
    renewal = Option(Kind.RENEWAL, True)
    if not window.contains(today):
        renewal = Option(
            Kind.RENEWAL,
            False,
            f"延续注册在注册有效期最后{rules.months_text(rule_set.renewal_window_months)}内受理"
            f"（{_date(window.opens)}至{_date(window.closes)}）",
        )
    return [Option(Kind.CHANGE, True), renewal]


def late_note(rule_set, qualified_on: dt.date) -> str:
    """Why the initial registration is 逾期 and what it asks in addition."""
    text = rules.late_reason(rule_set, qualified_on)
    if rule_set.late_initial_ce_hours:
        text += (
            f"：须提供申请前{rules.months_text(rule_set.validity_months)}内取得的本平台继续教育"
            f"合格证书，合计不少于{rule_set.late_initial_ce_hours}学时"
        )
    return text + "。"


async def current(*, session: AsyncSession, user_id: int) -> Application | None:
    """The person's application in progress (there is at most one)."""
    return await session.scalar(select(Application).where(Application.open_user_id == user_id))


async def get_open(*, session: AsyncSession, user_id: int) -> Application:
    application = await current(session=session, user_id=user_id)
    if application is None:
        raise NotFound("您当前没有办理中的注册申请")
    return application


def content(application: Application) -> dict:
    return json.loads(application.content or "{}")


def _store(application: Application, data: dict, now: dt.datetime) -> None:
    application.content = json.dumps(data, ensure_ascii=False, sort_keys=True)
    application.updated_at = now


async def last_form(*, session: AsyncSession, user_id: int) -> dict | None:
    """The most recently submitted form of the person, to prefill a new application."""
    form = await session.scalar(
        select(Submission.form_data)
        .join(Application, Application.id == Submission.application_id)
        .where(Application.user_id == user_id)
        .order_by(Submission.submitted_at.desc(), Submission.id.desc())
        .limit(1)
    )
    return json.loads(form) if form else None


async def start(*, session: AsyncSession, user: User, kind: str, now: dt.datetime) -> Application:
    """Open a draft of a kind, under the current rule set, prefilled from the last one."""
    if kind not in KIND_LABELS:
        raise NotFound("没有这种注册申请")
    existing = await current(session=session, user_id=user.id)
    if existing is not None:
        raise AppError(
            "application_open",
            f"您已有一份{existing.kind_label}申请正在办理（{existing.status_label}），"
            "同一时间只能办理一份申请；请先完成，或在未上报时撤销后再申请",
            409,
        )
    allowed = {o.kind: o for o in await options(session=session, user=user, now=now)}
    option = allowed.get(kind)
    if option is None or not option.ok:
        reason = option.reason if option else f"您目前不能申请{KIND_LABELS[kind]}"
        raise AppError("kind_not_allowed", reason or f"您目前不能申请{KIND_LABELS[kind]}", 409)
    rule_set = await rules.current(session=session)
    latest = await registry.latest_of(session=session, user_id=user.id)
    previous = await last_form(session=session, user_id=user.id) or {}
    application = Application(
        user_id=user.id,
        kind=kind,
        status=Status.DRAFT,
        open_user_id=user.id,
        rule_set_id=rule_set.id,
        created_at=now,
        updated_at=now,
    )
    data = {
        "employer": previous.get("employer") or {},
        "experiences": [
            {**e, "id": sections.new_entry_id()} for e in previous.get("experiences", [])
        ],
    }
    if latest is not None:
        application.channel = previous.get("channel", "")
        application.authority_id = latest.authority_id
        application.category = latest.category
        application.qualification_id = latest.qualification_id
        if kind in (Kind.CHANGE, Kind.RENEWAL):
            application.registration_id = latest.id
        authority = await session.get(Authority, latest.authority_id)
        application.channel = authority.channel if authority else ""
        data["employer"] = data["employer"] or {
            "name": latest.employer_name,
            "uscc": latest.employer_uscc,
        }
    _store(application, data, now)
    try:
        async with session.begin_nested():
            session.add(application)
    except IntegrityError:  # a second tab started one at the same moment
        raise AppError("application_open", "您已有一份申请正在办理，请刷新页面", 409) from None
    return application


def require_editable(application: Application) -> None:
    if not application.editable:
        raise AppError(
            "not_editable",
            f"申请已上报（{application.status_label}），审核期间不能修改",
            409,
        )


async def authorities(*, session: AsyncSession) -> list[Authority]:
    """The active authorities, by channel and name."""
    return list(
        await session.scalars(
            select(Authority)
            .where(Authority.is_active.is_(True))
            .order_by(Authority.channel, Authority.name)
        )
    )


async def save_channel(
    *, session: AsyncSession, application: Application, form: dict, now: dt.datetime
) -> None:
    """注册渠道 and 注册机构 (who does the 初审), and the category registered in."""
    require_editable(application)
    channel = (form.get("channel") or "").strip()
    if channel not in CHANNELS:
        raise AppError("channel_required", "请选择注册渠道（省级、部委或中央企业）")
    raw = str(form.get("authority_id") or "")
    # Only a plausible id reaches the database (PostgreSQL refuses an INTEGER out of range).
    authority_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0
    authority = await session.get(Authority, authority_id) if 0 < authority_id <= MAX_ID else None
    if authority is None or not authority.is_active:
        raise AppError("authority_required", "请选择注册机构")
    if authority.channel != channel:
        raise AppError(
            "authority_channel",
            f"“{authority.name}”属于{authority.channel_label}渠道，请重新选择注册渠道或注册机构",
        )
    records = await qualifications.of_user(session=session, user_id=application.user_id)
    if application.kind == Kind.RENEWAL:
        category = application.category
    else:
        category = (form.get("category") or "").strip()
    record = next((r for r in reversed(records) if r.category == category), None)
    if record is None:
        held = "、".join(dict.fromkeys(r.category for r in records)) or "无"
        raise AppError(
            "category_invalid", f"请选择注册专业类别：只能选择您取得资格的类别（{held}）"
        )
    application.channel = channel
    application.authority_id = authority.id
    application.category = category
    application.qualification_id = record.id
    application.updated_at = now
    await session.flush()


async def person_of(*, session: AsyncSession, user_id: int) -> dict:
    """The applicant's saved personal information (empty fields until filled in)."""
    person = await session.get(Person, user_id)
    data = json.loads(person.content) if person else {}
    if person:
        data["email"] = person.email
    return data


def personal_complete(data: dict) -> bool:
    required = set(sections.PERSONAL_FIELDS) - {"title", "email"}
    return all(data.get(f) for f in required)


async def save_personal(
    *, session: AsyncSession, user: User, birth: dt.date | None, form: dict, now: dt.datetime
) -> dict:
    """个人基本信息, kept for every later application (the e-mail recovers the password)."""
    application = await current(session=session, user_id=user.id)
    if application is not None:
        require_editable(application)
    values = sections.check_personal(form, birth_from_id=birth, today=local_date(now))
    email = values.pop("email")
    person = await session.get(Person, user.id)
    if person is None:
        person = Person(user_id=user.id, updated_at=now)
        session.add(person)
    person.email = email
    person.content = json.dumps(values, ensure_ascii=False, sort_keys=True)
    person.updated_at = now
    if application is not None:
        application.updated_at = now
    await session.flush()
    return values


async def save_employer(
    *, session: AsyncSession, application: Application, form: dict, now: dt.datetime
) -> None:
    """聘用单位信息."""
    require_editable(application)
    data = content(application)
    data["employer"] = sections.check_employer(form)
    _store(application, data, now)
    await session.flush()


async def save_experience(
    *,
    session: AsyncSession,
    application: Application,
    form: dict,
    now: dt.datetime,
    entry_id: str | None = None,
) -> None:
    """Add a work-experience entry, or replace the one with entry_id (修改)."""
    require_editable(application)
    data = content(application)
    entries = data.setdefault("experiences", [])
    if entry_id is not None and not any(e["id"] == entry_id for e in entries):
        raise NotFound("该条工作经历不存在")
    others = [e for e in entries if e["id"] != entry_id]
    if entry_id is None and len(entries) >= sections.MAX_EXPERIENCES:
        raise AppError(
            "too_many", f"工作经历最多填写{sections.MAX_EXPERIENCES}条，请合并同一单位的经历"
        )
    today = local_date(now)
    entry = sections.check_experience(form, today=today)
    sections.check_overlap(entry, others, today=today)
    entry["id"] = entry_id or sections.new_entry_id()
    data["experiences"] = sections.sort_experiences([*others, entry])
    _store(application, data, now)
    await session.flush()


async def delete_experience(
    *, session: AsyncSession, application: Application, entry_id: str, now: dt.datetime
) -> None:
    require_editable(application)
    data = content(application)
    entries = data.get("experiences", [])
    if not any(e["id"] == entry_id for e in entries):
        raise NotFound("该条工作经历不存在")
    data["experiences"] = [e for e in entries if e["id"] != entry_id]
    _store(application, data, now)
    await session.flush()


async def withdraw(
    *, session: AsyncSession, user: User, now: dt.datetime, ip: str = ""
) -> Application:
    """撤销: give up an application that is not under review."""
    application = await get_open(session=session, user_id=user.id)
    require_editable(application)
    application.status = Status.WITHDRAWN
    application.open_user_id = None
    application.updated_at = now
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="registration.withdraw",
        target_user_id=user.id,
        detail=f"{application.kind_label}申请 #{application.id}",
        ip=ip,
    )
    return application


@dataclasses.dataclass
class HistoryRow:
    application: Application
    submissions: list[Submission]
    authority: str


async def history(*, session: AsyncSession, user_id: int) -> list[HistoryRow]:
    """历史记录: every application of the person, by time, with its submitted forms."""
    rows = await session.execute(
        select(Application, Authority.name)
        .outerjoin(Authority, Authority.id == Application.authority_id)
        .where(Application.user_id == user_id, Application.status != Status.DRAFT)
        .order_by(Application.created_at.desc(), Application.id.desc())
    )
    result = []
    for application, authority in rows:
        subs = list(
            await session.scalars(
                select(Submission)
                .where(Submission.application_id == application.id)
                .order_by(Submission.seq)
            )
        )
        result.append(HistoryRow(application, subs, authority or ""))
    return result


async def get_submission(
    *, session: AsyncSession, submission_id: int, user_id: int | None = None
) -> tuple[Submission, Application]:
    """A submitted form (of this person, when user_id is given)."""
    row = (
        await session.execute(
            select(Submission, Application)
            .join(Application, Application.id == Submission.application_id)
            .where(Submission.id == submission_id)
        )
    ).first()
    if row is None or (user_id is not None and row[1].user_id != user_id):
        raise NotFound("申请表不存在")
    return row[0], row[1]


async def registration_of(*, session: AsyncSession, user_id: int) -> Registration | None:
    return await registry.latest_of(session=session, user_id=user_id)


async def qualification_records(*, session: AsyncSession, user_id: int) -> list[Qualification]:
    return await qualifications.of_user(session=session, user_id=user_id)
