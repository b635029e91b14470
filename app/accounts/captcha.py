"""Image captcha: four characters drawn with Pillow, kept in Redis, one use, five minutes."""

from __future__ import annotations

import base64
import io
import json
import random
import secrets

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from app.errors import AppError

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: they are easy to misread.
ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"
LENGTH = 4
WIDTH, HEIGHT = 120, 44


def key(captcha_id: str) -> str:
    return f"captcha:{captcha_id}"


def draw(text: str, rng: random.Random) -> bytes:
    """Render the characters with noise and return PNG bytes."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (245, 248, 252))
    canvas = ImageDraw.Draw(image)
    for _ in range(6):
        colour = tuple(rng.randint(150, 210) for _ in range(3))
        points = [(rng.randint(0, WIDTH), rng.randint(0, HEIGHT)) for _ in range(2)]
        canvas.line(points, fill=colour, width=1)
    font = ImageFont.load_default(size=28)
    for i, ch in enumerate(text):
        glyph = Image.new("RGBA", (34, 40), (0, 0, 0, 0))
        colour = (rng.randint(10, 90), rng.randint(40, 110), rng.randint(120, 190), 255)
        ImageDraw.Draw(glyph).text((5, 2), ch, font=font, fill=colour)
        glyph = glyph.rotate(rng.uniform(-25, 25), resample=Image.Resampling.BICUBIC)
        image.paste(glyph, (8 + i * 27 + rng.randint(-2, 2), rng.randint(0, 4)), glyph)
    for _ in range(80):
        xy = (rng.randint(0, WIDTH - 1), rng.randint(0, HEIGHT - 1))
        canvas.point(xy, fill=tuple(rng.randint(100, 200) for _ in range(3)))
    image = image.filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# Count one more captcha for an address in the current minute; return the count.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
return n
"""


async def allow(redis, ip: str, *, now: float, per_minute: int) -> None:
    """Refuse an address that asks for captchas faster than a person could use them."""
    minute = int(now // 60)
    count = await redis.eval(_COUNT, 1, f"captcha-rate:{ip}:{minute}")
    if int(count) > per_minute:
        raise AppError("captcha_rate", "获取验证码过于频繁，请稍后再试", 429)


async def issue(redis, *, now: float, ttl: int) -> dict[str, str]:
    """Create a captcha; return its id and the PNG as a data URL."""
    rng = random.Random(secrets.randbits(64))
    text = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    captcha_id = secrets.token_urlsafe(16)
    payload = json.dumps({"answer": text, "issued": now})
    # The Redis TTL only cleans up; expiry is judged by the app clock below.
    await redis.set(key(captcha_id), payload, ex=ttl + 60)
    png = base64.b64encode(draw(text, rng)).decode()
    return {"id": captcha_id, "image": f"data:image/png;base64,{png}"}


async def verify(redis, captcha_id: str, answer: str, *, now: float, ttl: int) -> None:
    """Consume the captcha (right or wrong, it is used up) or raise AppError."""
    answer = (answer or "").strip().upper()
    if not answer:
        raise AppError("captcha_required", "请输入验证码")
    stored = await redis.getdel(key(captcha_id or "-"))
    if stored is None:
        raise AppError("captcha_expired", "验证码已失效，请点击图片刷新后重新输入")
    data = json.loads(stored)
    if now - data["issued"] > ttl:
        raise AppError("captcha_expired", "验证码已过期，请点击图片刷新后重新输入")
    if not secrets.compare_digest(data["answer"], answer):
        raise AppError("captcha_wrong", "验证码错误，请重新输入")
