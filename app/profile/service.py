"""Profile rules: binding a phone by SMS code, and the one-time ID photo."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import re
import secrets
import warnings
from pathlib import Path

import aiofiles
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.config import Config
from app.errors import AppError

PHONE = re.compile(r"^1[3-9]\d{9}$")
PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png"}
# Far above 295×412 but small enough that no header can make Pillow allocate much.
Image.MAX_IMAGE_PIXELS = 4_000_000


def _code_key(user_id: int) -> str:
    return f"smscode:{user_id}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _check_phone(phone: str) -> str:
    phone = (phone or "").strip()
    if not PHONE.match(phone):
        raise AppError("phone_invalid", "请输入正确的11位手机号码")
    return phone


async def request_phone_code(
    *,
    session: AsyncSession,
    redis,
    enqueue,
    config: Config,
    now: dt.datetime,
    user: User,
    phone: str,
) -> int:
    """Send a 6-digit code to the phone; return the seconds until another may be sent."""
    if user.phone:
        raise AppError("phone_bound", "手机号已绑定，不可自行更改；如需更换请联系管理员")
    phone = _check_phone(phone)
    # Whether another account holds the number is told only to whoever proves they own it
    # (at binding, with the code): asking for a code must not reveal registered numbers.
    key = _code_key(user.id)
    previous = await redis.get(key)
    stamp = now.timestamp()
    if previous:
        wait = math.ceil(json.loads(previous)["sent"] + config.sms_resend_seconds - stamp)
        if wait > 0:
            raise AppError("sms_cooldown", f"验证码已发送，请 {wait} 秒后再重新获取", 429)
    code = f"{secrets.randbelow(1_000_000):06d}"
    record = {"phone": phone, "digest": _digest(code), "sent": stamp, "tries": 0}
    await redis.set(key, json.dumps(record), ex=config.sms_code_ttl_seconds + 120)
    minutes = config.sms_code_ttl_seconds // 60
    text = f"【{config.centre_name}】您的验证码为{code}，{minutes}分钟内有效，请勿泄露。"
    await enqueue("send_sms", phone, text)
    return config.sms_resend_seconds


async def bind_phone(
    *,
    session: AsyncSession,
    redis,
    config: Config,
    now: dt.datetime,
    user: User,
    phone: str,
    code: str,
) -> None:
    """Bind the phone when the code matches; a code works once and dies after 5 wrong tries."""
    if user.phone:
        raise AppError("phone_bound", "手机号已绑定，不可自行更改；如需更换请联系管理员")
    phone = _check_phone(phone)
    code = (code or "").strip()
    if not re.fullmatch(r"\d{6}", code):
        raise AppError("sms_code_format", "请输入短信中的6位数字验证码")
    key = _code_key(user.id)
    raw = await redis.get(key)
    if raw is None:
        raise AppError("sms_code_missing", "请先获取验证码")
    record = json.loads(raw)
    if now.timestamp() - record["sent"] > config.sms_code_ttl_seconds:
        await redis.delete(key)
        raise AppError("sms_code_expired", "验证码已过期，请重新获取")
    if record["phone"] != phone:
        raise AppError("sms_code_phone", "手机号与接收验证码的手机号不一致")
    if not secrets.compare_digest(record["digest"], _digest(code)):
        tries = await _count_wrong_try(redis, key)
        left = config.sms_max_tries - tries
        if left <= 0:
            await redis.delete(key)
            raise AppError("sms_code_void", "验证码错误次数过多已失效，请重新获取")
        raise AppError("sms_code_wrong", f"验证码错误，还可尝试 {left} 次")
    if await redis.delete(key) == 0:
        raise AppError("sms_code_missing", "请先获取验证码")  # used by a concurrent request
    await _refuse_taken_phone(session=session, user=user, phone=phone, message=PHONE_UNAVAILABLE)
    user.phone = phone
    user.phone_bound_at = now
    await session.flush()


_WRONG_TRY = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 99 end
local record = cjson.decode(raw)
record['tries'] = record['tries'] + 1
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return record['tries']
"""


async def _count_wrong_try(redis, key: str) -> int:
    return int(await redis.eval(_WRONG_TRY, 1, key))


# What a learner is told: neutral, it names no other account.
PHONE_UNAVAILABLE = "该手机号无法绑定到您的账号，请使用其他手机号；如有疑问请联系客服"


async def _refuse_taken_phone(
    *, session: AsyncSession, user: User, phone: str, message: str = "该手机号已被其他账号绑定"
) -> None:
    taken = await session.scalar(select(User.id).where(User.phone == phone, User.id != user.id))
    if taken:
        raise AppError("phone_unavailable", message)


def check_photo(data: bytes, config: Config) -> Image.Image:
    """Validate an uploaded ID photo and return it decoded, or say exactly what is wrong."""
    if not data:
        raise AppError("photo_missing", "请选择要上传的照片")
    limit_kb = config.photo_max_bytes // 1024
    if len(data) >= config.photo_max_bytes:
        raise AppError(
            "photo_too_big", f"照片大小为 {math.ceil(len(data) / 1024)} KB，须小于 {limit_kb} KB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format
            if fmt not in PHOTO_FORMATS:
                raise AppError(
                    "photo_format", f"照片格式为 {fmt or '未知'}，仅支持 jpg、jpeg、png 格式"
                )
            want = (config.photo_width, config.photo_height)
            if image.size != want:
                raise AppError(
                    "photo_dimensions",
                    f"照片尺寸须为 {want[0]}×{want[1]} 像素，您上传的照片为 {image.width}×{image.height} 像素",
                )
            image.load()
    except AppError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise AppError(
            "photo_dimensions",
            f"照片像素尺寸过大，须为 {config.photo_width}×{config.photo_height} 像素",
        ) from None
    except UnidentifiedImageError:
        raise AppError("photo_format", "无法识别该文件，仅支持 jpg、jpeg、png 格式的照片") from None
    except (OSError, SyntaxError, ValueError):
        raise AppError("photo_corrupt", "照片文件已损坏，请重新导出后上传") from None
    return image


def pixels_only(image: Image.Image) -> Image.Image:
    """A new RGB image with the same pixels and nothing else.

    ``convert`` copies ``info``, and Pillow's JPEG writer writes ``info["comment"]`` back
    out (a JPEG COM segment, or a PNG text chunk named "comment"): a photo would carry
    whatever text its uploader hid in it, as far as the certificate PDF. Built from the raw
    pixels, the new image has no comment, EXIF, ICC profile or XMP to write."""
    rgb = image.convert("RGB")
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


async def upload_photo(
    *, session: AsyncSession, config: Config, now: dt.datetime, user: User, data: bytes
) -> str:
    """Store the photo once, re-encoded so nothing but pixels is kept; return its file name."""
    if user.photo_file:
        raise AppError("photo_exists", "照片只能上传一次，如需更换请联系管理员", 409)
    image = check_photo(data, config)
    clean = io.BytesIO()
    pixels_only(image).save(clean, "JPEG", quality=92, optimize=True)
    name = f"{secrets.token_hex(16)}.jpg"
    config.photo_dir.mkdir(parents=True, exist_ok=True)
    path = config.photo_dir / name
    async with aiofiles.open(path, "wb") as out:
        await out.write(clean.getvalue())
    # Conditional update: of two simultaneous uploads exactly one wins.
    result = await session.execute(
        update(User)
        .where(User.id == user.id, User.photo_file.is_(None))
        .values(photo_file=name, photo_uploaded_at=now)
    )
    if result.rowcount != 1:
        path.unlink(missing_ok=True)
        raise AppError("photo_exists", "照片只能上传一次，如需更换请联系管理员", 409)
    user.photo_file, user.photo_uploaded_at = name, now
    return name


def photo_path(config: Config, user: User) -> Path | None:
    """Where a user's stored photo is, if they have one."""
    if not user.photo_file:
        return None
    path = config.photo_dir / user.photo_file
    return path if path.is_file() else None


async def reset_photo(*, session: AsyncSession, config: Config, user: User) -> Path | None:
    """Clear the photo so the learner can upload again (admin action).

    Returns the old file, for the caller to delete once the change is committed."""
    old = photo_path(config, user)
    user.photo_file = None
    user.photo_uploaded_at = None
    await session.flush()
    return old


async def set_phone(
    *, session: AsyncSession, user: User, phone: str | None, now: dt.datetime
) -> None:
    """Change or clear a bound phone (admin action)."""
    if phone:
        phone = _check_phone(phone)
        await _refuse_taken_phone(session=session, user=user, phone=phone)
    user.phone = phone or None
    user.phone_bound_at = now if phone else None
    await session.flush()
