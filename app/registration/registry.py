"""Issued registrations: numbers and validity, applying approved applications, public
verification by number, and cancellation (注销) by an admin."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.audit import service as audit
from app.clock import SHANGHAI, local_date
from app.errors import AppError, NotFound
from app.lib.masking import mask_name
from app.lib.paging import Page
from app.registration import notices, numbers, rules
from app.registration.models import ISSUING, Application, Authority, Kind, Registration, RuleSet

STATE_LABELS = {"valid": "有效", "expired": "已过期", "cancelled": "已注销"}


def state(registration: Registration, today: dt.date) -> str:
    """valid / expired / cancelled on a given day."""
    if registration.cancelled:
        return "cancelled"
    return "expired" if registration.valid_until < today else "valid"


async def latest_of(*, session: AsyncSession, user_id: int) -> Registration | None:
    """The person's most recent registration (the one that matters now)."""
    return await session.scalar(
        select(Registration)
        .where(Registration.user_id == user_id)
        .order_by(Registration.issued_at.desc(), Registration.id.desc())
        .limit(1)
    )


async def is_latest(*, session: AsyncSession, registration: Registration) -> bool:
    latest = await latest_of(session=session, user_id=registration.user_id)
    return latest is not None and latest.id == registration.id


async def fraud_barred_until(
    *, session: AsyncSession, user_id: int, rule_set: RuleSet
) -> dt.date | None:
    """The day until which a registration cancelled for fraud bars new applications."""
    cancelled = await session.scalar(
        select(func.max(Registration.cancelled_at)).where(
            Registration.user_id == user_id, Registration.fraud.is_(True)
        )
    )
    if cancelled is None or rule_set.fraud_bar_years == 0:
        return None
    return rules.add_years(local_date(cancelled), rule_set.fraud_bar_years)


async def _new_number(session: AsyncSession, now: dt.datetime) -> str:
    year = now.astimezone(SHANGHAI).year
    while True:
        number = numbers.make_number(year)
        if not await session.scalar(select(Registration.id).where(Registration.number == number)):
            return number


async def apply_approved(
    *, session: AsyncSession, application: Application, form: dict, now: dt.datetime
) -> Registration:
    """What a final approval does: issue a registration (initial, re-registration), move the
    employer or category (change, keeping the expiry) or extend the validity (renewal)."""
    rule_set = await session.get(RuleSet, application.rule_set_id)
    today = local_date(now)
    employer = form["employer"]
    if application.kind in ISSUING:
        valid_from, valid_until = rules.validity(rule_set, today)
        for _ in range(5):
            try:
                async with session.begin_nested():
                    registration = Registration(
                        number=await _new_number(session, now),
                        user_id=application.user_id,
                        holder_name=form["name"],
                        qualification_id=application.qualification_id,
                        authority_id=application.authority_id,
                        category=application.category,
                        employer_name=employer["name"],
                        employer_uscc=employer["uscc"],
                        valid_from=valid_from,
                        valid_until=valid_until,
                        rule_set_id=rule_set.id,
                        issued_at=now,
                        updated_at=now,
                    )
                    session.add(registration)
                break
            except IntegrityError:  # the same random number issued at the same moment
                continue
        application.registration_id = registration.id
        _schedule_notices(registration, rule_set, today)
        # Only a person's latest registration is reminded about.
        await session.execute(
            update(Registration)
            .where(Registration.user_id == registration.user_id, Registration.id != registration.id)
            .values(next_notice_on=None)
            .execution_options(synchronize_session=False)
        )
        return registration
    registration = await session.get(Registration, application.registration_id)
    if registration is None:
        raise NotFound("原注册记录不存在")
    registration.employer_name = employer["name"]
    registration.employer_uscc = employer["uscc"]
    registration.authority_id = application.authority_id
    registration.category = application.category
    if application.kind == Kind.RENEWAL:
        start = registration.valid_until + dt.timedelta(days=1)
        registration.valid_until = rules.validity(rule_set, start)[1]
        registration.rule_set_id = rule_set.id
        _schedule_notices(registration, rule_set, today)
    registration.updated_at = now
    await session.flush()
    return registration


def _schedule_notices(registration: Registration, rule_set: RuleSet, today: dt.date) -> None:
    """The day the dated notices of a new or extended validity start falling due."""
    registration.next_notice_on = rules.next_notice_day(
        rule_set, registration.valid_until, today - dt.timedelta(days=1)
    )


@dataclasses.dataclass
class Verification:
    """What the public page may show: nothing beyond these fields."""

    status: str  # valid / expired / cancelled / unknown
    number: str
    masked_name: str = ""
    category: str = ""
    authority: str = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.status, "未找到")


async def verify(*, session: AsyncSession, number: str, today: dt.date) -> Verification:
    """Look a registration number up for the public verification page."""
    value = numbers.normalise(number)
    if value is None:
        return Verification(status="unknown", number=(number or "").strip()[:20])
    row = (
        await session.execute(
            select(Registration, Authority.name)
            .join(Authority, Authority.id == Registration.authority_id)
            .where(Registration.number == value)
        )
    ).first()
    if row is None:
        return Verification(status="unknown", number=value)
    registration, authority = row
    return Verification(
        status=state(registration, today),
        number=value,
        masked_name=mask_name(registration.holder_name),
        category=registration.category,
        authority=authority,
        valid_from=registration.valid_from,
        valid_until=registration.valid_until,
    )


@dataclasses.dataclass
class AdminRow:
    registration: Registration
    authority: str
    id_number: str


async def admin_list(
    *, session: AsyncSession, query: str = "", page: int = 1, per_page: int = 30
) -> Page[AdminRow]:
    """Registrations for admins, newest first, by number, name or document number."""
    conditions = []
    query = (query or "").strip()
    if query:
        conditions.append(
            or_(
                Registration.number == query,
                Registration.holder_name.contains(query, autoescape=True),
                User.id_number == query.upper(),
            )
        )
    base = (
        select(Registration, Authority.name, User.id_number)
        .join(Authority, Authority.id == Registration.authority_id)
        .join(User, User.id == Registration.user_id)
        .where(*conditions)
    )
    total = await session.scalar(select(func.count()).select_from(base.subquery()))
    result = Page.of(page, per_page, total or 0)
    rows = await session.execute(
        base.order_by(Registration.issued_at.desc(), Registration.id.desc())
        .offset(result.offset)
        .limit(per_page)
    )
    result.items = [AdminRow(r, a, n) for r, a, n in rows]
    return result


async def cancel(
    *,
    session: AsyncSession,
    registration_id: int,
    reason: str,
    fraud: bool,
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> Registration:
    """注销: cancel a registration with a reason (and whether it was obtained by fraud)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise AppError("cancel_reason", "请填写注销原因")
    if len(reason) > 200:
        raise AppError("cancel_reason", f"注销原因不能超过200字（现为{len(reason)}字）")
    registration = await session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("注册记录不存在")
    if registration.cancelled:
        raise AppError("already_cancelled", "该注册已注销", 409)
    registration.cancelled = True
    registration.next_notice_on = None
    registration.cancelled_at = now
    registration.cancel_reason = reason
    registration.fraud = fraud
    registration.updated_at = now
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.cancel",
        target_user_id=registration.user_id,
        detail=f"注册编号 {registration.number}；原因：{reason}"
        + ("（以欺骗等不正当手段取得）" if fraud else ""),
        ip=ip,
    )
    if fraud:
        barred = await fraud_barred_until(
            session=session,
            user_id=registration.user_id,
            rule_set=await rules.current(session=session),
        )
        after = (
            f"因以欺骗等不正当手段取得注册，{rules.day_text(barred)}前不予注册。" if barred else ""
        )
    else:
        after = "如符合注册条件，可申请重新注册。"
    await notices.post(
        session=session,
        now=now,
        user_id=registration.user_id,
        kind="cancelled",
        title="注册已注销",
        body=f"您的注册（编号 {registration.number}）已于{rules.day_text(local_date(now))}被注销。"
        f"注销原因：{reason}。{after}",
    )
    return registration
