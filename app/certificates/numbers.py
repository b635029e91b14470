"""Certificate numbers: the year, ten random characters and a check character.

Crockford's base32 (no I, L, O or U), so a number read aloud or retyped stays
unambiguous; a Luhn mod 32 check character catches a typo before any database look-up.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_CHARS = 10  # 50 random bits: numbers cannot be guessed in sequence
NUMBER_SHAPE = re.compile(rf"^\d{{4}}[{ALPHABET}]{{{RANDOM_CHARS + 1}}}$")


def check_char(body: str) -> str:
    """Luhn mod 32 check character: catches any one wrong character and most swaps."""
    total, factor = 0, 2
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        total += addend // 32 + addend % 32
        factor = 3 - factor
    return ALPHABET[-total % 32]


def make_number(year: int) -> str:
    """A fresh certificate number: the year, ten random characters, a check character."""
    body = f"{year:04d}" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return body + check_char(body)


def normalise_number(raw: str | None) -> str | None:
    """The canonical form of a typed number, or None when it cannot be one of ours."""
    value = re.sub(r"[\s\-]", "", raw or "").upper().translate(str.maketrans("OIL", "011"))
    if not NUMBER_SHAPE.match(value) or check_char(value[:-1]) != value[-1]:
        return None
    return value
