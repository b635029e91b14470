"""A generated ID photo: what the studied demo learner has uploaded (and what tests use).

A 295×412 portrait on the blue background an ID photo has, with a little camera-like
noise so that it compresses like a real one (about 40 KB), drawn with Pillow.
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

BLUE = (61, 133, 214)


def id_photo(seed: int = 7, size: tuple[int, int] = (295, 412)) -> bytes:
    """The JPEG bytes of a blue-background portrait; ``seed`` varies it slightly."""
    width, height = size
    rng = random.Random(seed)
    image = Image.new("RGB", size, BLUE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        draw.line((0, y, width, y), fill=(61, 133 - y // 12, 214 - y // 10))
    sx, sy = width / 295, height / 412
    draw.ellipse((88 * sx, 70 * sy, 207 * sx, 225 * sy), fill=(238, 196, 165))  # face
    draw.ellipse((80 * sx, 50 * sy, 215 * sx, 140 * sy), fill=(35, 30, 28))  # hair
    draw.rectangle((50 * sx, 270 * sy, 245 * sx, height), fill=(28, 36, 52))  # jacket
    draw.polygon(
        [(120 * sx, 270 * sy), (147 * sx, 330 * sy), (175 * sx, 270 * sy)], fill=(245, 245, 245)
    )
    noise = Image.effect_noise(size, 18).convert("RGB")
    image = Image.blend(image, noise, 0.16)
    image.putpixel((rng.randrange(width), rng.randrange(height)), (0, 0, 0))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()
