"""Chinese resident ID numbers (GB 11643-1999): normalisation, checksum, birth date."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from app.errors import AppError

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83", "91",
}  # fmt: skip
SHAPE = re.compile(r"^\d{17}[\dX]$")


@dataclasses.dataclass(frozen=True)
class IdNumber:
    value: str
    birth_date: dt.date
    gender: str  # 男 / 女

    @property
    def last_six(self) -> str:
        return self.value[-6:]


def check_digit(first17: str) -> str:
    """The 18th character that GB 11643 computes from the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalise(raw: str) -> str:
    """Trim spaces and store a trailing x as X."""
    return (raw or "").strip().replace(" ", "").upper()


def parse(raw: str, *, today: dt.date | None = None) -> IdNumber:
    """Validate an ID number or raise AppError saying what is wrong with it."""
    value = normalise(raw)
    if not value:
        raise AppError("id_required", "请输入身份证号")
    if not SHAPE.match(value):
        raise AppError("id_malformed", "身份证号应为18位，由17位数字和末位数字或X组成")
    if value[:2] not in PROVINCES:
        raise AppError("id_region", "身份证号前两位地区码不正确，请核对后重新输入")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise AppError("id_birth", "身份证号中的出生日期不正确，请核对后重新输入") from None
    if birth.year < 1900 or birth > (today or dt.date.today()):
        raise AppError("id_birth", "身份证号中的出生日期不正确，请核对后重新输入")
    if check_digit(value[:17]) != value[17]:
        raise AppError("id_checksum", "身份证号校验位不正确，请核对后重新输入")
    gender = "男" if int(value[16]) % 2 == 1 else "女"
    return IdNumber(value=value, birth_date=birth, gender=gender)


def mask(value: str) -> str:
    """Show the region and the last four characters only: 120102********123X."""
    if len(value) != 18:
        return "*" * len(value)
    return f"{value[:6]}{'*' * 8}{value[-4:]}"


def make(first17: str) -> str:
    """Complete 17 digits with their check character (for demo data and tests)."""
    return first17 + check_digit(first17)
