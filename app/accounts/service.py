"""Account rules: creating users, logging in, changing and reissuing passwords."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import captcha, documents, idcard, passwords, throttle
from app.accounts.models import Role, User, UserRole
from app.config import Config
from app.errors import AppError

BAD_CREDENTIALS = "身份证号或密码错误"
# The initial password is the last six characters of the username, so hashing it would
# protect nothing and cost an argon2 hash per imported learner: it is stored as a marker.
INITIAL_PASSWORD = "!initial"
_dummy_hash: str | None = None


async def get(*, session: AsyncSession, user_id: int) -> User | None:
    """Return the user with this primary key, or None."""
    return await session.get(User, user_id)


async def get_by_id_number(*, session: AsyncSession, id_number: str) -> User | None:
    """Return the user whose username is this 居民身份证 number, or None."""
    return await get_by_document(
        session=session, id_type=documents.ID_CARD, number=idcard.normalise(id_number)
    )


async def get_by_document(*, session: AsyncSession, id_type: str, number: str) -> User | None:
    """Return the user whose username is this (document type, number), or None."""
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
    return throttle.Limits(
        slow_after=config.login_slow_after,
        lock_after=config.login_lock_after,
        ip_lock_after=config.login_ip_lock_after,
        lock_seconds=config.login_lock_minutes * 60,
    )


async def locked_until(
    redis, *, config: Config, user: User, now: dt.datetime
) -> dt.datetime | None:
    """When the lock of an account after too many failed logins ends, if it is locked."""
    until = await throttle.locked_until(
        redis, user.id_number, now=now.timestamp(), limits=login_limits(config)
    )
    return None if until is None else dt.datetime.fromtimestamp(until, dt.UTC)


async def unlock(redis, *, user: User) -> None:
    """Forget an account's failed logins, so that it may log in again at once."""
    await throttle.reset(redis, user.id_number)


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
    # Throttle counters of 居民身份证 accounts are keyed by the bare number, as before.
    counter = parsed.value if parsed.type == documents.ID_CARD else f"{parsed.type}:{parsed.value}"
    stamp = now.timestamp()
    await captcha.verify(
        redis, captcha_id, captcha_answer, now=stamp, ttl=config.captcha_ttl_seconds
    )
    limits = login_limits(config)
    await throttle.check(redis, counter, ip, now=stamp, limits=limits)
    user = await get_by_document(session=session, id_type=parsed.type, number=parsed.value)
    if user is None or not user.is_active:
        # Spend the same time as a real check so timing does not reveal the account.
        await passwords.verify_password(await _get_dummy_hash(config), password or "")
        ok = False
    else:
        ok = await check_password(user, password)
    if not ok:
        await throttle.record_failure(redis, counter, ip, now=stamp, limits=limits)
        raise AppError("bad_credentials", bad_credentials(parsed.type), 401)
    await throttle.reset(redis, counter)
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
        return secrets.compare_digest(password.upper(), user.id_number[-6:])
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


def initial_password_expired(user: User, *, config: Config, now: dt.datetime) -> bool:
    """An unused initial password lapses after the configured number of days."""
    return now - user.password_issued_at > dt.timedelta(days=config.initial_password_days)


async def change_password(
    *,
    session: AsyncSession,
    config: Config,
    now: dt.datetime,
    user: User,
    old: str,
    new: str,
    confirm: str,
) -> None:
    """Replace the password after checking the old one and the rules for new ones."""
    if not await check_password(user, old or ""):
        raise AppError("old_password_wrong", "原密码不正确")
    passwords.check_new_password(new or "", confirm or "", document_of(user))
    if new == old:
        raise AppError("password_same", "新密码不能与原密码相同")
    user.password_hash = await _hash(config, new)
    user.must_change_password = False
    user.password_issued_at = now
    await session.flush()


async def reissue_initial_password(
    *, session: AsyncSession, config: Config, now: dt.datetime, user: User
) -> None:
    """Reset the password to the initial one (last six of the ID), to be changed at login."""
    user.password_hash = INITIAL_PASSWORD
    user.must_change_password = True
    user.password_issued_at = now
    await session.flush()


async def _hash(config: Config, password: str) -> str:
    return await passwords.hash_password(
        password, time_cost=config.argon2_time_cost, memory_kib=config.argon2_memory_kib
    )


async def _get_dummy_hash(config: Config) -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await _hash(config, "not-a-real-password")
    return _dummy_hash
