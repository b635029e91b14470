"""The sections of an application form and how each is checked: personal information,
employer (聘用单位), work experience (从事安全生产相关业务工作经历). Pure functions: each
returns the cleaned values or raises AppError saying, in Chinese, what to fix."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from app.errors import AppError
from app.lib import uscc

EDUCATION = ("中专", "大专", "本科", "硕士研究生", "博士研究生", "其他")
# 单位属性代码: the registration type of the employer (国家统计局《关于划分企业登记注册
# 类型的规定》 codes for enterprises, then the non-enterprise kinds).
UNIT_ATTRIBUTES = {
    "110": "国有企业",
    "120": "集体企业",
    "130": "股份合作企业",
    "140": "联营企业",
    "150": "有限责任公司",
    "160": "股份有限公司",
    "170": "私营企业",
    "190": "其他企业",
    "200": "港、澳、台商投资企业",
    "300": "外商投资企业",
    "400": "机关",
    "500": "事业单位",
    "600": "社会团体",
    "900": "其他",
}
MOBILE = re.compile(r"^1[3-9]\d{9}$")
PHONE = re.compile(r"^(0\d{2,3}-?)?\d{7,8}(-\d{1,6})?$")
POSTCODE = re.compile(r"^\d{6}$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_EXPERIENCES = 10

PERSONAL_FIELDS = {
    "gender": "性别",
    "birth_date": "出生日期",
    "nation": "民族",
    "education": "学历",
    "major": "所学专业",
    "school": "毕业院校",
    "graduated_on": "毕业时间",
    "title": "技术职称",
    "mobile": "手机号码",
    "email": "电子邮箱",
    "address": "通讯地址",
    "postcode": "邮政编码",
}
EMPLOYER_FIELDS = {
    "name": "单位名称",
    "uscc": "统一社会信用代码",
    "attribute": "单位属性代码",
    "address": "单位地址",
    "postcode": "邮政编码",
    "contact": "联系人",
    "phone": "联系电话",
}
EXPERIENCE_FIELDS = {
    "start": "起始时间",
    "end": "结束时间",
    "unit": "工作单位",
    "position": "职务",
    "duty": "从事安全生产相关业务工作内容",
    "witness": "证明人",
}


def _text(form: dict, field: str, label: str, *, required: bool = True, limit: int = 100) -> str:
    value = " ".join(str(form.get(field) or "").split())
    if required and not value:
        raise AppError("field_required", f"请填写“{label}”")
    if len(value) > limit:
        raise AppError("field_long", f"“{label}”不能超过{limit}个字（现为{len(value)}个字）")
    return value


def month_of(raw: str, label: str) -> str:
    """A YYYY-MM month, as the month input sends it."""
    value = (raw or "").strip().replace("/", "-").replace(".", "-")
    match = MONTH.match(value)
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1940:
        raise AppError("month_invalid", f"“{label}”须为年月，如 2018-07")
    return value


def check_personal(form: dict, *, birth_from_id: dt.date | None, today: dt.date) -> dict:
    """个人基本信息 (the name comes from the account and is not edited here)."""
    values = {}
    gender = (form.get("gender") or "").strip()
    if gender not in ("男", "女"):
        raise AppError("field_required", "请选择“性别”")
    values["gender"] = gender
    if birth_from_id is not None:
        values["birth_date"] = birth_from_id.isoformat()
    else:
        try:
            birth = dt.date.fromisoformat((form.get("birth_date") or "").strip())
        except ValueError:
            raise AppError("field_required", "请填写“出生日期”，如 1988-05-01") from None
        if not dt.date(1920, 1, 1) <= birth <= today:
            raise AppError("birth_invalid", "“出生日期”不正确，请核对")
        values["birth_date"] = birth.isoformat()
    values["nation"] = _text(form, "nation", "民族", limit=20)
    education = (form.get("education") or "").strip()
    if education not in EDUCATION:
        raise AppError("field_required", "请选择“学历”")
    values["education"] = education
    values["major"] = _text(form, "major", "所学专业", limit=50)
    values["school"] = _text(form, "school", "毕业院校", limit=100)
    graduated = month_of(form.get("graduated_on", ""), "毕业时间")
    if graduated > f"{today:%Y-%m}":
        raise AppError("month_future", "“毕业时间”不能晚于本月")
    values["graduated_on"] = graduated
    values["title"] = _text(form, "title", "技术职称", required=False, limit=50)
    mobile = (form.get("mobile") or "").strip()
    if not MOBILE.match(mobile):
        raise AppError("mobile_invalid", "“手机号码”应为11位手机号，如 13812345678")
    values["mobile"] = mobile
    email = (form.get("email") or "").strip()
    if email and (not EMAIL.match(email) or len(email) > 100):
        raise AppError("email_invalid", "“电子邮箱”格式不正确，如 zhang@example.com（不填可留空）")
    values["email"] = email.lower()
    values["address"] = _text(form, "address", "通讯地址", limit=200)
    postcode = (form.get("postcode") or "").strip()
    if not POSTCODE.match(postcode):
        raise AppError("postcode_invalid", "“邮政编码”应为6位数字")
    values["postcode"] = postcode
    return values


def check_employer(form: dict) -> dict:
    """聘用单位信息, with the unified social credit code checked by GB 32100."""
    values = {"name": _text(form, "name", "单位名称", limit=100)}
    try:
        values["uscc"] = uscc.parse(form.get("uscc"))
    except uscc.InvalidCode as error:
        raise AppError("uscc_invalid", str(error)) from None
    attribute = (form.get("attribute") or "").strip()
    if attribute not in UNIT_ATTRIBUTES:
        raise AppError("field_required", "请选择“单位属性代码”")
    values["attribute"] = attribute
    values["address"] = _text(form, "address", "单位地址", limit=200)
    postcode = (form.get("postcode") or "").strip()
    if postcode and not POSTCODE.match(postcode):
        raise AppError("postcode_invalid", "单位“邮政编码”应为6位数字（不填可留空）")
    values["postcode"] = postcode
    values["contact"] = _text(form, "contact", "联系人", limit=20)
    phone = (form.get("phone") or "").strip()
    if not (MOBILE.match(phone) or PHONE.match(phone)):
        raise AppError(
            "phone_invalid", "“联系电话”应为手机号或固定电话，如 13812345678 或 022-12345678"
        )
    values["phone"] = phone
    return values


def check_experience(form: dict, *, today: dt.date) -> dict:
    """One work-experience entry; an empty end means 至今 (to this month)."""
    this_month = f"{today:%Y-%m}"
    start = month_of(form.get("start", ""), "起始时间")
    end_raw = (form.get("end") or "").strip()
    end = month_of(end_raw, "结束时间") if end_raw else ""
    if start > this_month:
        raise AppError("period_future", "“起始时间”不能晚于本月")
    if end and end > this_month:
        raise AppError("period_future", "“结束时间”不能晚于本月；仍在该单位工作请留空（至今）")
    if end and end < start:
        raise AppError("period_order", "“结束时间”不能早于“起始时间”")
    return {
        "start": start,
        "end": end,
        "unit": _text(form, "unit", "工作单位", limit=100),
        "position": _text(form, "position", "职务", limit=50),
        "duty": _text(form, "duty", "从事安全生产相关业务工作内容", limit=200),
        "witness": _text(form, "witness", "证明人", required=False, limit=20),
    }


def _span(entry: dict, this_month: str) -> tuple[str, str]:
    return entry["start"], entry["end"] or this_month


def check_overlap(entry: dict, others: list[dict], *, today: dt.date) -> None:
    """Refuse an entry whose period overlaps another's (a month shared at the handover is
    allowed: leaving in June and starting elsewhere in June is common)."""
    this_month = f"{today:%Y-%m}"
    start, end = _span(entry, this_month)
    for other in others:
        other_start, other_end = _span(other, this_month)
        if start < other_end and other_start < end:
            raise AppError(
                "period_overlap",
                f"该段工作经历（{start} 至 {entry['end'] or '至今'}）与已填写的"
                f"“{other['unit']}”（{other['start']} 至 {other['end'] or '至今'}）时间重叠，"
                "请修改起止时间",
            )
    if not entry["end"] and any(not o["end"] for o in others):
        raise AppError("period_overlap", "只能有一段工作经历的结束时间为“至今”")


def new_entry_id() -> str:
    return secrets.token_hex(4)


def sort_experiences(entries: list[dict]) -> list[dict]:
    return sorted(entries, key=lambda e: (e["start"], e["end"] or "9999"))
