"""Registration rules as data: versioned rule sets, the current one chosen by an admin and
recorded on every application, and the date arithmetic they imply."""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.errors import AppError, NotFound
from app.registration.models import RuleSet

# field -> (label, lowest, highest)
FIELDS = {
    "initial_window_months": ("初始注册期限（取得资格后，月）", 1, 240),
    "validity_months": ("注册有效期（月）", 1, 240),
    "renewal_window_months": ("延续注册申请期（有效期届满前，月）", 1, 24),
    "ce_hours_per_cycle": ("每个注册周期继续教育学时", 0, 500),
    "late_initial_ce_hours": ("逾期初始注册须提供的继续教育学时", 0, 500),
    "age_limit": ("年龄上限（周岁）", 18, 100),
    "fraud_bar_years": ("以欺骗等手段注册的禁止申请年限", 0, 20),
}

# The sources the presets' values are taken from, named next to each value below.
GUIDE = "原注册管理系统操作指南（reference/004）"
RULES_2019 = "《注册安全工程师职业资格制度规定》（应急管理部、人力资源社会保障部，2019年）"
CE_RULES = "注册安全工程师继续教育规定；学习考核系统操作指南 16/32/48学时 = 640/1280/1920分钟"


@dataclasses.dataclass(frozen=True)
class Preset:
    """A rule set as shipped: each value with where it comes from."""

    code: str
    name: str
    level: str
    note: str
    values: dict[str, int]
    sources: dict[str, str]


# The rule sets the migrations seed (each migration keeps its own copy of what it wrote, so
# that it never changes after it ran; tests/registration/test_rules.py checks both agree).
PRESETS = {
    "seed": Preset(
        code="seed",
        name="注册安全工程师注册规则（原注册管理系统）",
        level="",
        note="取得资格证书后3年内初始注册；注册有效期3年；有效期最后3个月内申请延续注册。",
        values={
            "initial_window_months": 36,
            "validity_months": 36,
            "renewal_window_months": 3,
            "ce_hours_per_cycle": 48,
            "late_initial_ce_hours": 48,
            "age_limit": 70,
            "fraud_bar_years": 3,
        },
        sources={
            "initial_window_months": f"{GUIDE}“注册流程”：取得安全工程师证书后，3年内要完成初始注册",
            "validity_months": f"{GUIDE}第4节“延续注册”：执业证有效期为三年",
            "renewal_window_months": f"{GUIDE}第4节：在注册有效期最后三个月内，可以申请延续注册",
            "ce_hours_per_cycle": f"指南未规定；{CE_RULES}：每个注册周期48学时",
            "late_initial_ce_hours": f"指南未规定（原系统不受理逾期初始注册）；按{CE_RULES}取一个注册周期的48学时",
            "age_limit": f"指南未规定；{RULES_2019}注册一章：年龄不超过70周岁",
            "fraud_bar_years": "指南未规定；原系统所依《注册安全工程师管理规定》（2007年）：以欺骗等不正当手段取得执业证的，3年内不得再次申请注册",
        },
    ),
    "2019-intermediate": Preset(
        code="2019-intermediate",
        name="中级注册安全工程师注册规则（2019年）",
        level="中级",
        note="取得资格证书后5年内初始注册，逾期按逾期初始注册办理；注册有效期5年；有效期满前3个月内"
        "申请延续注册；以欺骗等不正当手段取得注册的，5年内不予注册。",
        values={
            "initial_window_months": 60,
            "validity_months": 60,
            "renewal_window_months": 3,
            "ce_hours_per_cycle": 48,
            "late_initial_ce_hours": 48,
            "age_limit": 70,
            "fraud_bar_years": 5,
        },
        sources={
            "initial_window_months": f"{RULES_2019}注册一章：自取得职业资格证书之日起5年内提出初始注册；超过规定时间的，按逾期初始注册办理",
            "validity_months": f"{RULES_2019}注册一章：中级注册安全工程师注册有效期为5年",
            "renewal_window_months": f"{RULES_2019}注册一章：有效期满前3个月，需要延续注册的，应提出延续注册申请",
            "ce_hours_per_cycle": f"{CE_RULES}：每个注册周期48学时",
            "late_initial_ce_hours": f"{RULES_2019}：逾期初始注册的具体要求按相关规定执行；按{CE_RULES}取一个注册周期的48学时",
            "age_limit": f"{RULES_2019}注册一章：年龄不超过70周岁",
            "fraud_bar_years": f"{RULES_2019}注册一章：以不正当手段取得注册证书的，撤销其注册证书，5年内不予重新注册",
        },
    ),
}


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month so many months later (clamped to the month's end)."""
    total = day.month - 1 + months
    year, month = day.year + total // 12, total % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day: dt.date, years: int) -> dt.date:
    return add_months(day, 12 * years)


def months_text(months: int) -> str:
    """36 -> 3年, 3 -> 3个月, 18 -> 18个月."""
    return f"{months // 12}年" if months % 12 == 0 else f"{months}个月"


@dataclasses.dataclass(frozen=True)
class RenewalWindow:
    opens: dt.date
    closes: dt.date  # the last day of validity

    def contains(self, day: dt.date) -> bool:
        return self.opens <= day <= self.closes


def renewal_window(rules: RuleSet, valid_until: dt.date) -> RenewalWindow:
    """延续注册 may be applied for in the last N months of validity."""
    opens = add_months(valid_until, -rules.renewal_window_months) + dt.timedelta(days=1)
    return RenewalWindow(opens=opens, closes=valid_until)


# The dated notices of a registration (公告信息), by days before its expiry.
EXPIRY_NOTICE_DAYS = (90, 30)


def notice_days(rules: RuleSet, valid_until: dt.date) -> list[tuple[dt.date, str]]:
    """Each dated notice of a registration and the day it falls due, in order: 90 and 30
    days before expiry, the renewal window opening, and the day after the last valid one."""
    days = [(valid_until - dt.timedelta(days=d), f"expiry_{d}") for d in EXPIRY_NOTICE_DAYS]
    days.append((renewal_window(rules, valid_until).opens, "renewal_open"))
    days.append((valid_until + dt.timedelta(days=1), "expired"))
    # On one day, the window opening says more than "90 days left".
    order = {"renewal_open": 1, "expired": 2}
    return sorted(days, key=lambda item: (item[0], order.get(item[1], 0)))


def next_notice_day(rules: RuleSet, valid_until: dt.date, after: dt.date) -> dt.date | None:
    """The first day after ``after`` on which a dated notice falls due (None: no more)."""
    return next((day for day, _ in notice_days(rules, valid_until) if day > after), None)


def validity(rules: RuleSet, start: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of a registration issued (or extended) from ``start``."""
    return start, add_months(start, rules.validity_months) - dt.timedelta(days=1)


def initial_deadline(rules: RuleSet, qualified_on: dt.date) -> dt.date:
    """The last day an initial registration may be submitted."""
    return add_months(qualified_on, rules.initial_window_months)


def day_text(day: dt.date) -> str:
    """2026-03-04 -> 2026年3月4日."""
    return f"{day.year}年{day.month}月{day.day}日"


def late_reason(rules: RuleSet, qualified_on: dt.date) -> str:
    """Why an initial registration is 逾期 (the certificate is older than the window)."""
    return (
        f"取得资格日期{day_text(qualified_on)}，已超过初始注册期限"
        f"{months_text(rules.initial_window_months)}"
        f"（截至{day_text(initial_deadline(rules, qualified_on))}），按逾期初始注册办理"
    )


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


async def current(*, session: AsyncSession) -> RuleSet:
    """The rule set new applications run under."""
    rules = await session.scalar(select(RuleSet).where(RuleSet.is_current.is_(True)))
    if rules is None:
        rules = await session.scalar(select(RuleSet).order_by(RuleSet.id))
    if rules is None:
        raise AppError("rules_missing", "尚未设置注册规则，请联系管理员", 503)
    return rules


async def get(*, session: AsyncSession, rule_set_id: int) -> RuleSet:
    rules = await session.get(RuleSet, rule_set_id)
    if rules is None:
        raise NotFound("注册规则不存在")
    return rules


async def get_all(*, session: AsyncSession) -> list[RuleSet]:
    """Every version, by family and newest version first."""
    return list(
        await session.scalars(select(RuleSet).order_by(RuleSet.code, RuleSet.version.desc()))
    )


def check_fields(form: dict[str, str]) -> dict[str, int]:
    """The numeric fields of a rule set form, or AppError naming the first wrong one."""
    values: dict[str, int] = {}
    for field, (label, low, high) in FIELDS.items():
        raw = str(form.get(field) or "").strip()
        if not (raw.isascii() and raw.isdigit()):
            raise AppError("rules_invalid", f"“{label}”须填写整数")
        if len(raw) > 6 or not low <= int(raw) <= high:
            shown = raw if len(raw) <= 12 else f"{raw[:12]}…"
            raise AppError("rules_invalid", f"“{label}”须在 {low} 至 {high} 之间（现为 {shown}）")
        values[field] = int(raw)
    if values["renewal_window_months"] >= values["validity_months"]:
        raise AppError("rules_invalid", "延续注册申请期须短于注册有效期")
    return values


async def new_version(
    *,
    session: AsyncSession,
    base_id: int,
    form: dict[str, str],
    now: dt.datetime,
    actor_id: int | None,
    ip: str = "",
) -> RuleSet:
    """Save edited values as the next version of a rule set's family (versions in use by
    applications never change)."""
    base = await get(session=session, rule_set_id=base_id)
    values = check_fields(form)
    name = (form.get("name") or "").strip() or base.name
    if len(name) > 100:
        raise AppError("rules_invalid", "规则名称不能超过100个字符")
    version = (
        await session.scalar(select(func.max(RuleSet.version)).where(RuleSet.code == base.code))
    ) + 1
    rules = RuleSet(
        code=base.code,
        version=version,
        name=name,
        level=base.level,
        note=(form.get("note") or "").strip()[:500],
        is_current=False,
        created_at=now,
        **values,
    )
    session.add(rules)
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.rules_version",
        detail=f"{rules.name} 第{rules.version}版",
        ip=ip,
    )
    return rules


async def select_current(
    *, session: AsyncSession, rule_set_id: int, now: dt.datetime, actor_id: int | None, ip: str = ""
) -> RuleSet:
    """Make a version the one new applications run under."""
    rules = await get(session=session, rule_set_id=rule_set_id)
    await session.execute(update(RuleSet).values(is_current=False))
    rules.is_current = True
    await session.flush()
    await audit.record(
        session=session,
        now=now,
        actor_id=actor_id,
        action="registration.rules_select",
        detail=f"{rules.name} 第{rules.version}版",
        ip=ip,
    )
    return rules
