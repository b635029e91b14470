"""Identity documents (证件类型) a person logs in with, each checked by its published format.

- 居民身份证: GB 11643-1999 (``idcard``), the default and the learners' username.
- 护照: the document number of ICAO Doc 9303 (at most 9 letters and digits in the machine
  readable zone); a Chinese ordinary passport is E + 8 digits or E + a letter + 7 digits.
- 港澳居民来往内地通行证 (回乡证): H (Hong Kong) or M (Macao) + 8 digits (cards since 2013;
  the older booklets carried H/M + 10 digits).
- 台湾居民来往大陆通行证 (台胞证): 8 digits (cards since 2015; older ones had 10).

港澳台居民居住证 is not a separate type: its number is an 18-character GB 11643 number
(regions 81/82/83) from the same numbering space, so it is entered as a 居民身份证 number.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from app.accounts import idcard
from app.errors import AppError

ID_CARD = "id_card"
PASSPORT = "passport"
HK_MACAO_PERMIT = "hk_macao_permit"
TAIWAN_PERMIT = "taiwan_permit"

LABELS = {
    ID_CARD: "居民身份证",
    PASSPORT: "护照",
    HK_MACAO_PERMIT: "港澳居民来往内地通行证",
    TAIWAN_PERMIT: "台湾居民来往大陆通行证",
}
# What the number is called on forms and in messages.
NUMBER_LABELS = {
    ID_CARD: "身份证号",
    PASSPORT: "护照号码",
    HK_MACAO_PERMIT: "通行证号码",
    TAIWAN_PERMIT: "通行证号码",
}
PASSPORT_SHAPE = re.compile(r"^[A-Z0-9]{5,9}$")
HK_MACAO_SHAPE = re.compile(r"^[HM](\d{8}|\d{10})$")
TAIWAN_SHAPE = re.compile(r"^(\d{8}|\d{10})$")


@dataclasses.dataclass(frozen=True)
class Document:
    """A checked document number; birth date and gender only where the number tells them."""

    type: str
    value: str
    birth_date: dt.date | None = None
    gender: str | None = None

    @property
    def last_six(self) -> str:
        return self.value[-6:]

    @property
    def label(self) -> str:
        return LABELS[self.type]

    @property
    def number_label(self) -> str:
        return NUMBER_LABELS[self.type]


def normalise_type(raw: str | None) -> str:
    """The document type of a form value; empty means 居民身份证 (the default)."""
    value = (raw or "").strip()
    if not value:
        return ID_CARD
    if value in LABELS:
        return value
    by_label = {label: key for key, label in LABELS.items()}
    if value in by_label:
        return by_label[value]
    raise AppError("id_type_invalid", "请选择正确的证件类型")


def normalise(raw: str) -> str:
    """Spaces, brackets and dashes removed, letters in upper case."""
    return re.sub(r"[\s\-()（）]", "", raw or "").upper()


def parse(id_type: str | None, raw: str, *, today: dt.date | None = None) -> Document:
    """Check a number against its type's format or raise AppError saying what to fix."""
    kind = normalise_type(id_type)
    if kind == ID_CARD:
        number = idcard.parse(raw, today=today)
        return Document(ID_CARD, number.value, number.birth_date, number.gender)
    value = normalise(raw)
    if not value:
        raise AppError("id_required", f"请输入{NUMBER_LABELS[kind]}")
    if kind == PASSPORT:
        if not PASSPORT_SHAPE.match(value) or not any(c.isdigit() for c in value):
            raise AppError(
                "id_malformed",
                "护照号码应为5至9位字母和数字（如 E12345678、EA1234567），请按护照资料页填写",
            )
        if value[0] == "E" and not re.match(r"^E(\d{8}|[A-HJ-NP-Z]\d{7})$", value):
            raise AppError(
                "id_malformed",
                "中国普通护照号码为 E 加8位数字，或 E 加1个字母和7位数字，请核对后重新输入",
            )
    elif kind == HK_MACAO_PERMIT:
        if not HK_MACAO_SHAPE.match(value):
            raise AppError(
                "id_malformed",
                "港澳居民来往内地通行证号码应为 H（香港）或 M（澳门）加8位数字（旧版证件为10位），如 H12345678",
            )
    elif kind == TAIWAN_PERMIT and not TAIWAN_SHAPE.match(value):
        raise AppError(
            "id_malformed", "台湾居民来往大陆通行证号码应为8位数字（旧版证件为10位），如 01234567"
        )
    return Document(kind, value)


def display(id_type: str, value: str) -> str:
    """The type and number as shown on forms: 护照 E12345678."""
    return f"{LABELS.get(id_type, id_type)} {value}"


def mask(id_type: str, value: str) -> str:
    """Enough of the number to recognise it: the ID card's region and last four, else the
    first and the last two characters."""
    if id_type == ID_CARD:
        return idcard.mask(value)
    if len(value) <= 3:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 3) + value[-2:]
