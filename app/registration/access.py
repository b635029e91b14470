"""First use (设置密码) and a forgotten password (忘了密码) for registration applicants.

设置密码 proves identity against the qualification records (name, document number and
qualification certificate number) and then sets a password; a person who already has a
learning account keeps it (the same User). 忘了密码 mails a single-use link, valid for 30
minutes, to the e-mail kept in the registration information, and answers the same whether
or not the account or the address exists."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import captcha, documents, passwords
from app.accounts import service as accounts
from app.accounts.models import Role, User, UserRole
from app.audit import service as audit
from app.config import Config
from app.db import index_of
from app.errors import AppError
from app.lib import crypto
from app.registration import qualifications
from app.registration.models import Person

SETUP_TTL = 15 * 60
RESET_TTL = 30 * 60
FORGOT_PER_HOUR = 3  # links per account per hour
FORGOT_GAP = 60  # seconds between two links for one account
FORGOT_IP_PER_HOUR = 20
VERIFY_PER_HOUR = 10  # 设置密码 identity checks per document per hour
VERIFY_IP_PER_HOUR = 30
HAS_ACCOUNT = (
    "该证件号码已有账号（与学习考核系统为同一账号），请直接用原密码登录；"
    "如忘记密码，请点击“忘了密码”"
)
FORGOT_ANSWER = (
    "如果该账号存在且在注册信息中留存了电子邮箱，重置密码的链接已发送到该邮箱，"
    "30分钟内有效，只能使用一次。没有留存邮箱的，请联系您的注册机构查询。"
)


def _setup_key(token: str) -> str:
    return f"pwsetup:{hashlib.sha256(token.encode()).hexdigest()}"


def _reset_key(token: str) -> str:
    return f"pwreset:{hashlib.sha256(token.encode()).hexdigest()}"


@dataclasses.dataclass
class Identity:
    """A verified identity waiting for its password (设置密码, step 2)."""

    qualification_id: int
    id_type: str
    number: str
    name: str
    gender: str


async def verify_identity(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    form: dict,
    ip: str = "",
) -> str:
    """Step 1: captcha, then name + document + certificate number against the records.
    Returns a token for step 2 (kept 15 minutes). Checks are limited per address and per
    document number, so the records cannot be walked."""
    stamp = now.timestamp()
    await captcha.verify(
        redis,
        form.get("captcha_id", ""),
        form.get("captcha", ""),
        now=stamp,
        ttl=config.captcha_ttl_seconds,
    )
    document = documents.parse(form.get("id_type"), form.get("id_number", ""), today=now.date())
    limits = {
        f"pwverify:ip:{ip}": VERIFY_IP_PER_HOUR,
        f"pwverify:doc:{document.type}:{index_of(document.value)}": VERIFY_PER_HOUR,
    }
    for key, per_hour in limits.items():
        await _rate_limit(redis, key, now=stamp, per_hour=per_hour, gap=0, what="身份验证")
    record = await qualifications.match(
        session=session,
        name=form.get("name", ""),
        id_type=document.type,
        number=document.value,
        certificate_no=form.get("certificate_no", ""),
    )
    user = await accounts.get_by_document(
        session=session, id_type=document.type, number=document.value
    )
    if user is not None and not user.must_change_password:
        raise AppError("has_account", HAS_ACCOUNT, 409)
    if record.user_id not in (None, getattr(user, "id", None)):
        raise AppError("qualification_taken", "该资格证书已由其他账号验证，请联系注册机构核实", 409)
    token = secrets.token_urlsafe(32)
    identity = Identity(
        record.id, document.type, document.value, record.name, document.gender or ""
    )
    payload = {**dataclasses.asdict(identity), "issued": now.timestamp()}
    # Sealed: the document number is personal data, and Redis is written to disk.
    await redis.set(_setup_key(token), crypto.seal(json.dumps(payload)), ex=SETUP_TTL + 60)
    return token


async def pending_identity(redis, token: str, *, now: dt.datetime) -> Identity:
    """The identity of a step-1 token, or AppError when it is unknown or expired."""
    raw = await redis.get(_setup_key(token)) if 10 < len(token) < 100 else None
    if raw is None:
        raise AppError("setup_expired", "身份验证已失效，请重新进行身份验证", 410)
    data = json.loads(crypto.reveal(raw if isinstance(raw, str) else raw.decode()))
    if now.timestamp() - data.pop("issued") > SETUP_TTL:
        raise AppError("setup_expired", "身份验证已超过15分钟，请重新进行身份验证", 410)
    return Identity(**data)


async def set_first_password(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    token: str,
    form: dict,
    ip: str = "",
) -> User:
    """Step 2: create the account (or take the learning account of the same document), set
    the password, tie the qualification record to it. The token is used up."""
    identity = await pending_identity(redis, token, now=now)
    gender = identity.gender or (form.get("gender") or "").strip()
    if gender not in ("男", "女"):
        raise AppError("gender_required", "请选择性别")
    user = await accounts.get_by_document(
        session=session, id_type=identity.id_type, number=identity.number
    )
    password, confirm = form.get("password", ""), form.get("confirm_password", "")
    if user is not None and not user.must_change_password:
        raise AppError("has_account", HAS_ACCOUNT, 409)
    document = documents.parse(identity.id_type, identity.number)
    passwords.check_new_password(password, confirm, document)
    if user is None:
        user = await accounts.create(
            session=session,
            config=config,
            now=now,
            id_type=identity.id_type,
            id_number=identity.number,
            name=identity.name,
            gender=gender,
            roles=(Role.REGISTRANT,),
            password=password,
        )
    else:
        await accounts.set_password(
            session=session, config=config, now=now, user=user, new=password, confirm=confirm
        )
    if not user.has_role(Role.REGISTRANT):
        session.add(UserRole(user_id=user.id, role=Role.REGISTRANT))
    record = await session.get(qualifications.Qualification, identity.qualification_id)
    await qualifications.link(
        session=session, record=record, user_id=user.id, id_type=user.id_type, number=user.id_number
    )
    if await redis.getdel(_setup_key(token)) is None:
        raise AppError("setup_expired", "该身份验证已使用，请重新进行身份验证", 410)
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="account.password_setup",
        target_user_id=user.id,
        detail=f"资格证书编号 {record.certificate_no}",
        ip=ip,
    )
    return user


async def verify_qualification(
    *, session: AsyncSession, user: User, now: dt.datetime, form: dict
) -> qualifications.Qualification:
    """注册资格信息验证 for a logged-in person (e.g. a learner starting initial registration):
    the record must carry this account's name and document."""
    record = await qualifications.match(
        session=session,
        name=form.get("name", ""),
        id_type=user.id_type,
        number=user.id_number,
        certificate_no=form.get("certificate_no", ""),
    )
    if record.name != user.name:
        raise AppError("qualification_mismatch", qualifications.MISMATCH)
    await qualifications.link(
        session=session, record=record, user_id=user.id, id_type=user.id_type, number=user.id_number
    )
    if not user.has_role(Role.REGISTRANT):
        session.add(UserRole(user_id=user.id, role=Role.REGISTRANT))
    await session.flush()
    return record


async def _rate_limit(
    redis, key: str, *, now: float, per_hour: int, gap: int, what: str = "找回密码"
) -> None:
    """Refuse when this key asked within ``gap`` seconds or ``per_hour`` times this hour."""
    stamps = [float(s) for s in await redis.lrange(key, 0, -1)]
    recent = [s for s in stamps if now - s < 3600]
    if recent and gap and now - max(recent) < gap:
        wait = math.ceil(gap - (now - max(recent)))
        raise AppError("forgot_too_soon", f"操作过于频繁，请 {wait} 秒后再试", 429)
    if len(recent) >= per_hour:
        wait = math.ceil((min(recent) + 3600 - now) / 60)
        raise AppError("forgot_too_many", f"{what}次数过多，请 {wait} 分钟后再试", 429)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, repr(now))
        pipe.ltrim(key, -per_hour * 2, -1)
        pipe.expire(key, 3700)
        await pipe.execute()


async def request_reset(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    form: dict,
    ip: str,
    enqueue,
) -> str:
    """忘了密码: mail a reset link when the account has an e-mail on file. The answer (and
    the rate limits, keyed by what was typed) are the same for every number."""
    stamp = now.timestamp()
    await captcha.verify(
        redis,
        form.get("captcha_id", ""),
        form.get("captcha", ""),
        now=stamp,
        ttl=config.captcha_ttl_seconds,
    )
    document = documents.parse(form.get("id_type"), form.get("id_number", ""), today=now.date())
    await _rate_limit(redis, f"pwforgot:ip:{ip}", now=stamp, per_hour=FORGOT_IP_PER_HOUR, gap=0)
    await _rate_limit(
        redis,
        f"pwforgot:doc:{document.type}:{index_of(document.value)}",
        now=stamp,
        per_hour=FORGOT_PER_HOUR,
        gap=FORGOT_GAP,
    )
    user = await accounts.get_by_document(
        session=session, id_type=document.type, number=document.value
    )
    person = await session.get(Person, user.id) if user is not None and user.is_active else None
    if person is not None and person.email:
        token = secrets.token_urlsafe(32)
        payload = {"uid": user.id, "issued": stamp, "pw": user.password_issued_at.timestamp()}
        await redis.set(_reset_key(token), json.dumps(payload), ex=RESET_TTL + 60)
        link = f"{config.public_url}/registration/reset-password/{token}"
        text = (
            f"{user.name}，您好：\n\n您在{config.centre_name}注册管理系统申请了找回密码。"
            f"请在30分钟内打开以下链接设置新密码（只能使用一次）：\n{link}\n\n"
            "如果不是您本人操作，请忽略本邮件，您的密码不会改变。"
        )
        await enqueue("send_mail", person.email, f"【{config.centre_name}】重置登录密码", text)
    return FORGOT_ANSWER


async def reset_target(*, session: AsyncSession, redis, token: str, now: dt.datetime) -> User:
    """The account a reset link is for, or AppError when it is used, expired or stale."""
    raw = await redis.get(_reset_key(token)) if 10 < len(token) < 100 else None
    if raw is None:
        raise AppError("reset_invalid", "该链接已使用或已失效，请重新找回密码", 410)
    data = json.loads(raw)
    user = await session.get(User, data["uid"])
    if now.timestamp() - data["issued"] > RESET_TTL:
        raise AppError("reset_invalid", "该链接已超过30分钟有效期，请重新找回密码", 410)
    if user is None or not user.is_active or user.password_issued_at.timestamp() != data["pw"]:
        raise AppError("reset_invalid", "该链接已失效（密码已更改），请重新找回密码", 410)
    return user


async def reset_password(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    token: str,
    form: dict,
    ip: str = "",
) -> User:
    """Set the new password through a reset link; the link is used up only on success."""
    user = await reset_target(session=session, redis=redis, token=token, now=now)
    password, confirm = form.get("password", ""), form.get("confirm_password", "")
    await accounts.set_password(
        session=session, config=config, now=now, user=user, new=password, confirm=confirm
    )
    if await redis.getdel(_reset_key(token)) is None:
        raise AppError("reset_invalid", "该链接已使用，请重新找回密码", 410)
    await audit.record(
        session=session,
        now=now,
        actor_id=user.id,
        action="account.password_reset",
        target_user_id=user.id,
        ip=ip,
    )
    return user
