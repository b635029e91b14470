"""Password hashing (argon2) and the rules a new password must meet."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.errors import AppError

MIN_LENGTH = 8


# SecLists' 10,000 most common passwords, the 1,000 most common of a Chinese leak (NetEase,
# 2015) and local additions (see COMMON_PASSWORDS.md).
COMMON_LISTS = ("common_passwords.txt", "common_passwords_cn.txt", "common_passwords_local.txt")


@functools.cache
def common_passwords() -> frozenset[str]:
    """Every password of the common lists, lower-cased."""
    words: set[str] = set()
    for name in COMMON_LISTS:
        text = (Path(__file__).parent / name).read_text(encoding="utf-8")
        words.update(line.strip().lower() for line in text.splitlines() if line.strip())
    return frozenset(words)


@functools.cache
def hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


async def hash_password(password: str, *, time_cost: int, memory_kib: int) -> str:
    """Hash off the event loop: argon2 is deliberately slow."""
    return await asyncio.to_thread(hasher(time_cost, memory_kib).hash, password)


async def verify_password(stored_hash: str, password: str) -> bool:
    """True when the password matches the stored argon2 hash."""

    def _verify() -> bool:
        try:
            return PasswordHasher().verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def check_new_password(password: str, confirm: str, id_number) -> None:
    """Raise AppError with the first rule a new password breaks.

    ``id_number`` is the username as parsed (``idcard.IdNumber`` or ``documents.Document``):
    its last six characters and, when the number tells it, the birth date are refused."""
    if password != confirm:
        raise AppError("password_mismatch", "两次输入的新密码不一致")
    if len(password) < MIN_LENGTH:
        raise AppError("password_short", f"新密码至少需要 {MIN_LENGTH} 个字符")
    if len(password) > 64:
        raise AppError("password_long", "新密码不能超过 64 个字符")
    upper = password.upper()
    if id_number.last_six in upper:
        label = getattr(id_number, "number_label", "身份证号")
        raise AppError("password_id", f"新密码不能包含{label}后六位")
    birth = id_number.birth_date
    if birth and (birth.strftime("%Y%m%d") in password or birth.strftime("%y%m%d") in password):
        raise AppError("password_birth", "新密码不能包含您的出生日期")
    if password.lower() in common_passwords() or len(set(password)) <= 2:
        raise AppError("password_common", "新密码过于常见，容易被猜中，请换一个")
