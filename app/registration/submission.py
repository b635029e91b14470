"""上报: the checks an application must pass, the form as it is printed and kept, and the
submission itself. The continuing-education section of a renewal comes from this
platform's own certificates inside the current validity."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import documents
from app.accounts.models import User
from app.audit import service as audit
from app.certificates import service as certificates
from app.clock import SHANGHAI, local_date
from app.config import Config
from app.errors import AppError
from app.registration import applications, notices, registry, rules, sections
from app.registration.channels import CHANNELS
from app.registration.models import (
    ISSUING,
    Application,
    Authority,
    Kind,
    Qualification,
    Registration,
    RuleSet,
    Status,
    Submission,
)


def photo_dir(config: Config) -> Path:
    """Photos as they were on submitted forms (a later reset of the profile photo must not
    change a form in the history)."""
    return config.data_dir / "registration-photos"


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def hours_text(tenths: int) -> str:
    """学时 with one decimal, from tenths: 480 -> "48.0", 2 -> "0.2"."""
    return f"{tenths // 10}.{tenths % 10}"


async def education(
    *,
    session: AsyncSession,
    user_id: int,
    start: dt.date,
    end: dt.date,
    required_hours: int,
    label: str,
) -> dict:
    """继续教育: the certificates earned on this platform from ``start`` to ``end``, each
    credited as printed on it (40 minutes = 1 学时, down to a tenth), so that the rows add
    up to the total and total + missing = required."""
    earned = await certificates.certificates_in(
        session=session,
        user_id=user_id,
        start=_day_start(start),
        end=_day_start(end + dt.timedelta(days=1)),
    )
    total = sum(c.tenths for c in earned)
    required = required_hours * 10
    missing = max(0, required - total)
    result = {
        "entries": [
            {
                "number": c.number,
                "batch": c.batch_name,
                "hours": hours_text(c.tenths),
                "issued_on": local_date(c.issued_at).isoformat(),
            }
            for c in earned
        ],
        "period": f"{start.isoformat()} 至 {end.isoformat()}",
        "label": label,
        "total_hours": hours_text(total),
        "required_hours": hours_text(required),
        "missing_hours": hours_text(missing),
        "met": missing == 0,
    }
    result["summary"] = ce_summary(result)
    return result


def ce_summary(ce: dict) -> str:
    """合计 x 学时，规定 y 学时，还差 z 学时 (x + z = y), the one wording of every message."""
    text = f"合计{ce['total_hours']}学时，规定{ce['required_hours']}学时"
    return text + (f"，还差{ce['missing_hours']}学时" if not ce["met"] else "，已满足要求")


def late_period(rule_set: RuleSet, today: dt.date) -> tuple[dt.date, dt.date]:
    """The continuing education a 逾期初始注册 counts: one validity period up to today."""
    return rules.add_months(today, -rule_set.validity_months) + dt.timedelta(days=1), today


async def build_form(
    *,
    session: AsyncSession,
    application: Application,
    user: User,
    now: dt.datetime,
) -> dict:
    """Everything the printed application form (申请表) shows, as plain data (``now``: the
    day a re-registration's former registration is judged on, and a 逾期初始注册's
    continuing education counted to)."""
    data = applications.content(application)
    person = await applications.person_of(session=session, user_id=user.id)
    rule_set = await session.get(RuleSet, application.rule_set_id)
    authority = (
        await session.get(Authority, application.authority_id) if application.authority_id else None
    )
    record = (
        await session.get(Qualification, application.qualification_id)
        if application.qualification_id
        else None
    )
    registration = await _former_registration(session, application)
    employer = dict(data.get("employer") or {})
    if employer.get("attribute"):
        employer["attribute_label"] = sections.UNIT_ATTRIBUTES.get(employer["attribute"], "")
    form = {
        "kind": application.kind,
        "kind_label": application.kind_label,
        "title": f"注册安全工程师{application.kind_label}申请表",
        "name": user.name,
        "id_type": user.id_type,
        "id_type_label": documents.LABELS.get(user.id_type, user.id_type),
        "id_number": user.id_number,
        "personal": {k: v for k, v in person.items() if k in sections.PERSONAL_FIELDS},
        "channel": application.channel,
        "channel_label": CHANNELS.get(application.channel, ""),
        "authority": authority.name if authority else "",
        "category": application.category,
        "qualification": {
            "certificate_no": record.certificate_no,
            "level": record.level,
            "category": record.category,
            "qualified_on": record.qualified_on.isoformat(),
        }
        if record
        else {},
        "employer": employer,
        "experiences": [
            {k: e.get(k, "") for k in sections.EXPERIENCE_FIELDS}
            for e in sections.sort_experiences(data.get("experiences", []))
        ],
        "rules": {"name": rule_set.name, "version": rule_set.version},
        "registration": _former(registration, local_date(now)) if registration else None,
        "education": None,
        "late": None,
        "photo": user.photo_file or "",
    }
    if application.kind == Kind.RENEWAL and registration is not None:
        form["education"] = await education(
            session=session,
            user_id=user.id,
            start=registration.valid_from,
            end=registration.valid_until,
            required_hours=rule_set.ce_hours_per_cycle,
            label="本注册周期",
        )
    if application.kind == Kind.LATE_INITIAL:
        today = local_date(now)
        start, end = late_period(rule_set, today)
        form["education"] = await education(
            session=session,
            user_id=user.id,
            start=start,
            end=end,
            required_hours=rule_set.late_initial_ce_hours,
            label=f"申请前{rules.months_text(rule_set.validity_months)}",
        )
        if record is not None:
            form["late"] = rules.late_reason(rule_set, record.qualified_on)
    return form


async def _former_registration(
    session: AsyncSession, application: Application
) -> Registration | None:
    """The registration an application changes or renews, or the lapsed or cancelled one a
    re-registration replaces (its number is printed on the form)."""
    if application.kind in (Kind.CHANGE, Kind.RENEWAL) and application.registration_id:
        return await session.get(Registration, application.registration_id)
    if application.kind == Kind.REREGISTRATION:
        return await registry.latest_of(session=session, user_id=application.user_id)
    return None


def _former(registration: Registration, today: dt.date) -> dict:
    state = registry.state(registration, today)
    return {
        "number": registration.number,
        "category": registration.category,
        "employer": registration.employer_name,
        "valid_from": registration.valid_from.isoformat(),
        "valid_until": registration.valid_until.isoformat(),
        "state": state,
        "state_label": registry.STATE_LABELS[state],
    }


def digest(form: dict) -> str:
    """What the applicant filled in, as a fingerprint (a photo re-upload counts too)."""
    blob = json.dumps(form, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# The step to go back to, per problem, so the message can link to it.
def _missing(step: str, message: str) -> AppError:
    return AppError("incomplete", message, 400, step=step)


async def check(
    *, session: AsyncSession, application: Application, user: User, form: dict, now: dt.datetime
) -> None:
    """Refuse a submission that is incomplete or not allowed, saying what to fix."""
    steps = applications.STEPS[application.kind]
    today = local_date(now)
    if not user.photo_file:
        raise _missing(
            "personal",
            "请先在“个人基本信息”中上传本人照片（1寸蓝底免冠照片，与学习档案为同一张）后再上报",
        )
    if not applications.personal_complete(form["personal"]):
        raise _missing("personal", "个人基本信息尚未填写完整，请先填写“个人基本信息”")
    if not application.authority_id or not form["category"]:
        step = "channel" if "channel" in steps else "preview"
        raise _missing(step, "请先选择注册渠道、注册机构和注册专业类别")
    if not form["employer"].get("uscc"):
        raise _missing("employer", "请先填写聘用单位信息")
    if not form["experiences"]:
        raise _missing("experience", "请至少添加一条从事安全生产相关业务的工作经历")
    rule_set = await session.get(RuleSet, application.rule_set_id)
    latest = await registry.latest_of(session=session, user_id=user.id)
    birth = form["personal"].get("birth_date")
    if birth:
        age = rules.age_on(dt.date.fromisoformat(birth), today)
        if age >= rule_set.age_limit:
            raise AppError(
                "age_limit", f"申请人年龄已满{rule_set.age_limit}周岁，按注册规则不予注册", 409
            )
    if application.kind in ISSUING:
        barred = await registry.fraud_barred_until(
            session=session, user_id=user.id, rule_set=rule_set
        )
        if barred and today < barred:
            raise AppError(
                "fraud_barred",
                f"因以欺骗等不正当手段取得注册被注销，{_date(barred)}前不予注册",
                409,
            )
    if application.kind in (Kind.INITIAL, Kind.LATE_INITIAL):
        if latest is not None:
            raise AppError("already_registered", "您已经注册过，不能再申请初始注册", 409)
        qualified_on = dt.date.fromisoformat(form["qualification"]["qualified_on"])
        deadline = rules.initial_deadline(rule_set, qualified_on)
        late = today > deadline
        if late and application.kind == Kind.INITIAL:
            raise AppError(
                "initial_window",
                f"{rules.late_reason(rule_set, qualified_on)}：请撤销本申请，改为申请逾期初始注册",
                409,
            )
        if not late and application.kind == Kind.LATE_INITIAL:
            raise AppError(
                "not_late",
                f"取得资格证书未超过{rules.months_text(rule_set.initial_window_months)}"
                f"（初始注册截至{_date(deadline)}），请申请初始注册",
                409,
            )
        if late:
            _require_hours(form["education"], "逾期初始注册")
    elif application.kind == Kind.REREGISTRATION:
        if latest is not None and registry.state(latest, today) == "valid":
            raise AppError("still_valid", "您的注册仍在有效期内，不需要重新注册", 409)
    else:
        registration = await session.get(Registration, application.registration_id)
        if registration is None or registry.state(registration, today) != "valid":
            raise AppError("not_valid", "原注册已不在有效期内，请申请重新注册", 409)
        if application.kind == Kind.CHANGE:
            same_employer = form["employer"]["uscc"] == registration.employer_uscc
            if same_employer and form["category"] == registration.category:
                raise _missing(
                    "employer", "变更注册须变更聘用单位或注册专业类别：当前填写与原注册相同"
                )
        if application.kind == Kind.RENEWAL:
            window = rules.renewal_window(rule_set, registration.valid_until)
            if not window.contains(today):
                raise AppError(
                    "renewal_window",
                    f"延续注册只在注册有效期最后"
                    f"{rules.months_text(rule_set.renewal_window_months)}内受理"
                    f"（{_date(window.opens)}至{_date(window.closes)}），今天不能上报",
                    409,
                )
            _require_hours(form["education"], "延续注册")


def _require_hours(ce: dict, what: str) -> None:
    if not ce["met"]:
        raise AppError(
            "ce_hours",
            f"继续教育学时不足：{what}须提供{ce['label']}（{ce['period']}）内在本平台取得的"
            f"继续教育合格证书，{ce_summary(ce)}。请完成继续教育并取得合格证书后再上报",
            409,
            step="education",
        )


def _keep_photo(config: Config, user: User) -> str:
    """Copy the profile photo beside the forms, named by its content; returns the name."""
    source = config.photo_dir / user.photo_file
    data = source.read_bytes()
    name = f"{hashlib.sha256(data).hexdigest()[:32]}.jpg"
    target = photo_dir(config) / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        shutil.copyfile(source, partial)
        partial.replace(target)
    return name


async def submit(
    *,
    session: AsyncSession,
    config: Config,
    user: User,
    now: dt.datetime,
    ip: str = "",
) -> Submission:
    """上报 the open application: checked, frozen as a form, sent to the authority."""
    application = await applications.get_open(session=session, user_id=user.id)
    applications.require_editable(application)
    form = await build_form(session=session, application=application, user=user, now=now)
    await check(session=session, application=application, user=user, form=form, now=now)
    fingerprint = digest(form)
    if application.status == Status.RETURNED and fingerprint == application.submitted_digest:
        raise AppError(
            "unchanged",
            "申请表与退回时完全相同：请按退回原因修改相应内容后再上报",
            409,
        )
    try:
        form["photo"] = _keep_photo(config, user)
    except OSError:
        raise _missing("personal", "照片文件缺失，请在“我的资料”重新上传照片后再上报") from None
    application.submissions += 1
    form["seq"] = application.submissions
    form["submitted_at"] = now.isoformat()
    form_data, id_number = Submission.split(form)
    submission = Submission(
        application_id=application.id,
        seq=application.submissions,
        form_data=form_data,
        id_number=id_number,
        digest=fingerprint,
        submitted_at=now,
    )
    session.add(submission)
    application.status = Status.SUBMITTED
    application.submitted_digest = fingerprint
    application.submitted_at = now
    application.updated_at = now
    await session.flush()
    again = "重新" if application.submissions > 1 else ""
    await notices.post(
        session=session,
        now=now,
        user_id=user.id,
        kind="submitted",
        title=f"{application.kind_label}申请已{again}上报",
        body=f"您的{application.kind_label}申请已于{now.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
        f"{again}上报至{form['authority']}，等待初审。",
        application_id=application.id,
    )
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="registration.submit",
        target_user_id=user.id,
        detail=f"{application.kind_label}申请 #{application.id} 第{application.submissions}次上报",
        ip=ip,
    )
    return submission


async def latest_submission(*, session: AsyncSession, application_id: int) -> Submission | None:
    return await session.scalar(
        select(Submission)
        .where(Submission.application_id == application_id)
        .order_by(Submission.seq.desc())
        .limit(1)
    )
