"""统一社会信用代码 (unified social credit code), GB 32100-2015.

Eighteen characters from an alphabet of 31 (digits and capitals without I, O, Z, S, V):
the registering department, the organisation category, the six-digit administrative
division, the nine-character organisation body (GB 11714) and a check character computed
over the first seventeen with the weights 3^i mod 31.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
SHAPE = re.compile(rf"^[{ALPHABET}]{{2}}\d{{6}}[{ALPHABET}]{{10}}$")


class InvalidCode(ValueError):
    """The code is malformed; the message (Chinese) says what to fix."""


def check_char(first17: str) -> str:
    """The 18th character that GB 32100 computes from the first seventeen."""
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalise(raw: str | None) -> str:
    return re.sub(r"[\s\-]", "", raw or "").upper()


def parse(raw: str | None) -> str:
    """The code in canonical form, or InvalidCode saying what is wrong with it."""
    value = normalise(raw)
    if not value:
        raise InvalidCode("请填写统一社会信用代码")
    if len(value) != 18:
        raise InvalidCode(f"统一社会信用代码应为18位（现为{len(value)}位），请按营业执照核对")
    if not SHAPE.match(value):
        raise InvalidCode(
            "统一社会信用代码含有不允许的字符：只能是数字和大写字母（不含 I、O、Z、S、V），"
            "第3至8位为行政区划代码（数字），请按营业执照核对"
        )
    if check_char(value[:17]) != value[17]:
        raise InvalidCode("统一社会信用代码校验位不正确（第18位），请按营业执照逐位核对")
    return value


def is_valid(raw: str | None) -> bool:
    try:
        parse(raw)
    except InvalidCode:
        return False
    return True
