"""Account rules: creating users, logging in, changing and reissuing passwords."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.accounts import captcha, documents, idcard, passwords, throttle
from app.accounts.events import SessionsEnded
from app.accounts.models import Role, User, UserRole, index_of
from app.config import Config
from app.errors import AppError

BAD_CREDENTIALS = "身份证号或密码错误"
# The initial password is the last six characters of the username, so hashing it would
# protect nothing and cost an argon2 hash per imported learner: it is stored as a marker.
INITIAL_PASSWORD = "!initial"
_dummy_hashes: dict[tuple[int, int], str] = {}


async def get(*, session: AsyncSession, user_id: int) -> User | None:
    """Return the user with this primary key, or None."""
    return await session.get(User, user_id)


async def get_by_id_number(*, session: AsyncSession, id_number: str) -> User | None:
    """Return the user whose username is this 居民身份证 number, or None."""
    return await get_by_document(
        session=session, id_type=documents.ID_CARD, number=idcard.normalise(id_number)
    )


async def get_by_document(*, session: AsyncSession, id_type: str, number: str) -> User | None:
    """Return the user whose username is this (document type, number), or None (the one
    look-up by number: it compares the blind index, the numbers being encrypted)."""
    result = await session.execute(
        select(User).where(User.id_type == id_type, User.id_number == number)
    )
    return result.scalar_one_or_none()


def bad_credentials(id_type: str) -> str:
    """The one answer to a wrong number or password, named after the document typed."""
    if id_type == documents.ID_CARD:
        return BAD_CREDENTIALS
    return f"{documents.NUMBER_LABELS[id_type]}或密码错误"


async def create(
    *,
    session: AsyncSession,
    config: Config,
    now: dt.datetime,
    id_number: str,
    name: str,
    work_unit: str = "",
    gender: str | None = None,
    roles: tuple[str, ...] = (Role.LEARNER,),
    password: str | None = None,
    id_type: str = documents.ID_CARD,
) -> User:
    """Create a user; without a password the initial one (last six of the ID) is issued."""
    parsed = documents.parse(id_type, id_number, today=now.date())
    name = (name or "").strip()
    if not name or len(name) > 50:
        raise AppError("name_invalid", "姓名不能为空且不超过50个字符")
    if gender not in (None, "男", "女"):
        raise AppError("gender_invalid", "性别只能是“男”或“女”")
    if password is None and parsed.type != documents.ID_CARD:
        raise AppError("password_required", "非居民身份证账号须设置密码，没有初始密码")
    if await get_by_document(session=session, id_type=parsed.type, number=parsed.value):
        masked = documents.mask(parsed.type, parsed.value)
        raise AppError("user_exists", f"{parsed.number_label} {masked} 的账号已存在")
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        raise AppError("role_invalid", f"未知角色：{'、'.join(sorted(unknown))}")
    user = User(
        id_type=parsed.type,
        id_number=parsed.value,
        name=name,
        gender=gender or parsed.gender or "",
        work_unit=(work_unit or "").strip()[:200],
        password_hash=await _hash(config, password) if password else INITIAL_PASSWORD,
        must_change_password=password is None,
        password_issued_at=now,
        created_at=now,
        roles=[UserRole(role=r) for r in dict.fromkeys(roles)],
    )
    session.add(user)
    await session.flush()
    return user


def login_limits(config: Config) -> throttle.Limits:
    """The failed-login limits of a deployment."""
    return throttle.Limits.from_config(config)


async def locked_until(
    redis, *, config: Config, user: User, now: dt.datetime
) -> dt.datetime | None:
    """When the lock of an account after too many failed logins ends, if it is locked."""
    until = await throttle.locked_until(
        redis,
        throttle_subject(user.id_type, user.id_number),
        now=now.timestamp(),
        limits=login_limits(config),
    )
    return None if until is None else dt.datetime.fromtimestamp(until, dt.UTC)


async def unlock(redis, *, user: User) -> None:
    """Forget an account's failed logins, so that it may log in again at once."""
    await throttle.reset(redis, throttle_subject(user.id_type, user.id_number))


def throttle_subject(id_type: str, number: str) -> str:
    """Whose failed logins a counter holds: the number's blind index (never the number)."""
    index = index_of(number)
    return index if id_type == documents.ID_CARD else f"{id_type}:{index}"


async def login(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    username: str,
    password: str,
    captcha_id: str,
    captcha_answer: str,
    ip: str,
    id_type: str = documents.ID_CARD,
) -> User:
    """Check captcha, throttling and password; return the user or raise AppError."""
    parsed = documents.parse(id_type, username, today=now.date())
    stamp = now.timestamp()
    await captcha.verify(
        redis, captcha_id, captcha_answer, now=stamp, ttl=config.captcha_ttl_seconds
    )
    limits = login_limits(config)
    # Counted under the number's blind index: no ID number in a Redis key.
    subject = throttle_subject(parsed.type, parsed.value)
    await throttle.check(redis, subject, ip, now=stamp, limits=limits)
    user = await get_by_document(session=session, id_type=parsed.type, number=parsed.value)
    known = user is not None and user.is_active
    # Exactly one argon2 verification on every path (unknown or disabled account, initial
    # or real password), so the time taken tells nothing about the account.
    real = known and user.password_hash != INITIAL_PASSWORD
    stored = user.password_hash if real else await _get_dummy_hash(config)
    verified = await passwords.verify_password(stored, password or "")
    if not known:
        ok = False
    elif real:
        ok = verified
    else:
        ok = _is_initial(user, password)
    if not ok:
        await throttle.record_failure(redis, subject, ip, now=stamp, limits=limits)
        raise AppError("bad_credentials", bad_credentials(parsed.type), 401)
    await throttle.reset(redis, subject)
    if user.must_change_password and initial_password_expired(user, config=config, now=now):
        raise AppError(
            "initial_password_expired",
            f"初始密码已超过 {config.initial_password_days} 天未使用而失效，请联系管理员重新发放",
            403,
        )
    return user


async def check_password(user: User, password: str) -> bool:
    """True when the password is the user's current one (or their initial one)."""
    if not password:
        return False
    if user.password_hash == INITIAL_PASSWORD:
        return _is_initial(user, password)
    return await passwords.verify_password(user.password_hash, password)


def document_of(user: User) -> documents.Document:
    """The user's username as a checked document (for the password rules)."""
    return documents.parse(user.id_type, user.id_number)


async def set_password(
    *, session: AsyncSession, config: Config, now: dt.datetime, user: User, new: str, confirm: str
) -> None:
    """Set a password without the old one (first use or a reset link); the rules apply."""
    passwords.check_new_password(new or "", confirm or "", document_of(user))
    user.password_hash = await _hash(config, new)
    user.must_change_password = False
    user.password_issued_at = now
    await session.flush()


def _is_initial(user: User, password: str | None) -> bool:
    """Whether the password typed is the user's initial one (the last six of the ID)."""
    typed = (password or "").upper().encode()
    return bool(typed) and secrets.compare_digest(typed, user.id_number[-6:].encode())


def initial_password_expired(user: User, *, config: Config, now: dt.datetime) -> bool:
    """An unused initial password lapses after the configured number of days."""
    return now - user.password_issued_at > dt.timedelta(days=config.initial_password_days)


def _password_subject(user: User) -> str:
    # Wrong old passwords are counted apart from failed logins (typed ID numbers).
    return f"pw:{user.id}"


async def change_password(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    user: User,
    old: str,
    new: str,
    confirm: str,
    ip: str,
) -> None:
    """Replace the password after checking the old one and the rules for new ones; every
    session of the user ends with the commit."""
    # Guessing the old password of a signed-in session is throttled like logging in.
    limits, stamp = login_limits(config), now.timestamp()
    subject = _password_subject(user)
    await throttle.check(redis, subject, ip, now=stamp, limits=limits, action="原密码验证")
    if not await check_password(user, old or ""):
        await throttle.record_failure(redis, subject, ip, now=stamp, limits=limits)
        raise AppError("old_password_wrong", "原密码不正确")
    await throttle.reset(redis, subject)
    passwords.check_new_password(new or "", confirm or "", document_of(user))
    if new == old:
        raise AppError("password_same", "新密码不能与原密码相同")
    user.password_hash = await _hash(config, new)
    user.must_change_password = False
    user.password_issued_at = now
    await session.flush()
    events.record(session, SessionsEnded(user.id, "password_changed"))


async def reissue_initial_password(
    *, session: AsyncSession, config: Config, now: dt.datetime, user: User
) -> None:
    """Reset the password to the initial one (last six of the ID), to be changed at login;
    every session of the user ends with the commit."""
    user.password_hash = INITIAL_PASSWORD
    user.must_change_password = True
    user.password_issued_at = now
    await session.flush()
    events.record(session, SessionsEnded(user.id, "password_reissued"))


async def _hash(config: Config, password: str) -> str:
    return await passwords.hash_password(
        password, time_cost=config.argon2_time_cost, memory_kib=config.argon2_memory_kib
    )


async def _get_dummy_hash(config: Config) -> str:
    """A hash made with the configured cost, which a real verification would take as long
    to check."""
    cost = (config.argon2_time_cost, config.argon2_memory_kib)
    if cost not in _dummy_hashes:
        _dummy_hashes[cost] = await _hash(config, secrets.token_urlsafe(16))
    return _dummy_hashes[cost]
