"""Turning a certificate's content into a one-page A4 PDF with xhtml2pdf.

Everything costly is done once per process and kept: the CJK font registration, the
compiled Jinja template and the centre's seal image. A render reads nothing but the
photo bytes it is given: the markup names its images (cert:photo, ...), render_pdf hands
them over as data: URIs, and the resource policy forbids every file and network read,
so a template can never reach outside.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import math
import os
import threading
from pathlib import Path

import qrcode
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from app.config import ROOT
from app.lib import pdf

FONT_FILE, FONT_NAME, BASE_CSS = pdf.FONT_FILE, pdf.FONT_NAME, pdf.BASE_CSS
TEMPLATE = "certificates/certificate.html"
# 1 学时 = 40 分钟: the programme tiers 16/32/48 学时 are 640/1280/1920 minutes.
MINUTES_PER_HOUR = 40
SEAL_RED = (196, 30, 36)

_setup_lock = threading.Lock()


class RenderError(Exception):
    """A certificate could not be rendered; the message is shown to admins."""


@dataclasses.dataclass(frozen=True)
class CertificateContent:
    """Everything printed on one certificate."""

    number: str
    name: str
    gender: str
    id_masked: str
    work_unit: str
    batch_name: str
    minutes: int
    score: float
    issue_date: dt.date
    centre_name: str
    verify_url: str


def credit_tenths(minutes: int) -> int:
    """Tenths of a 学时 credited for so many minutes: the one rounding rule (down to a tenth)
    for what a certificate prints and what registration adds up."""
    return minutes * 10 // MINUTES_PER_HOUR


def hours_text(minutes: int) -> str:
    """学时 from minutes: 1920 -> "48", 1940 -> "48.5" (rounded down to a tenth)."""
    tenths = credit_tenths(minutes)
    return str(tenths // 10) if tenths % 10 == 0 else f"{tenths // 10}.{tenths % 10}"


def score_text(score: float) -> str:
    """A score as printed: 86 or 86.5."""
    return f"{score:.1f}".rstrip("0").rstrip(".")


def date_text(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@functools.cache
def _template():
    """Register the font with ReportLab and compile the template, once per process."""
    with _setup_lock:
        try:
            pdf.register_cjk_font()
        except pdf.PdfError as error:
            raise RenderError(str(error)) from None
        env = Environment(
            loader=FileSystemLoader(str(ROOT / "templates")),
            autoescape=select_autoescape(["html"]),
            auto_reload=False,
        )
        return env.get_template(TEMPLATE)


_data_uri = pdf.data_uri


def photo_uri(photo: bytes) -> str:
    """The ID photo as a data: URI, after checking that it is an image we can print."""
    try:
        with Image.open(io.BytesIO(photo)) as image:
            fmt = image.format
            image.verify()
    except UnidentifiedImageError:
        raise RenderError("照片文件无法读取：不是可识别的图片") from None
    except (OSError, SyntaxError, ValueError):
        raise RenderError("照片文件无法读取：图片数据已损坏") from None
    if fmt not in ("JPEG", "PNG"):
        raise RenderError(f"照片格式 {fmt} 无法打印")
    return _data_uri("image/jpeg" if fmt == "JPEG" else "image/png", photo)


def qr_png(url: str) -> bytes:
    """A QR code of the URL as a small black-and-white PNG (4 pixels per module)."""
    # A fixed mask: choosing the "best" one costs 20 ms in pure Python; any mask is valid.
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, mask_pattern=2
    )
    code.add_data(url)
    code.make(fit=True)
    # Straight from the module matrix: qrcode's own image drawing is twice as slow.
    rows = code.get_matrix()
    size = len(rows)
    image = Image.frombytes("L", (size, size), bytes(0 if m else 255 for row in rows for m in row))
    out = io.BytesIO()
    image.resize((size * 4, size * 4), Image.NEAREST).convert("1").save(out, "PNG")
    return out.getvalue()


@functools.lru_cache(maxsize=8)
def seal_jpeg(centre_name: str) -> bytes:
    """The centre's round red seal mark: its name along the rim, a star in the middle."""
    size = 240  # 42 mm wide on paper: about 145 dpi, enough for a mark, cheap to embed
    k = size / 360  # the drawing below is laid out on a 360-pixel grid
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    ink = (*SEAL_RED, 205)
    centre = size / 2
    draw.ellipse((5 * k, 5 * k, size - 5 * k, size - 5 * k), outline=ink, width=round(10 * k))
    star = [
        (
            centre + (56 if i % 2 == 0 else 22) * k * math.cos(math.radians(-90 + 36 * i)),
            centre + (56 if i % 2 == 0 else 22) * k * math.sin(math.radians(-90 + 36 * i)),
        )
        for i in range(10)
    ]
    draw.polygon(star, fill=ink)
    name = centre_name[:18]
    font = ImageFont.truetype(str(FONT_FILE), round((40 if len(name) <= 13 else 32) * k), index=0)
    span = min(270.0, 21.0 * len(name))
    radius = centre - 48 * k
    cell = round(60 * k)
    for i, char in enumerate(name):
        angle = -90 - span / 2 + span * (i + 0.5) / len(name)
        glyph = Image.new("RGBA", (cell, cell), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((cell / 2, cell / 2), char, font=font, fill=ink, anchor="mm")
        glyph = glyph.rotate(-(angle + 90), resample=Image.BICUBIC)
        x = centre + radius * math.cos(math.radians(angle))
        y = centre + radius * math.sin(math.radians(angle))
        image.alpha_composite(glyph, (round(x - cell / 2), round(y - cell / 2)))
    small = ImageFont.truetype(str(FONT_FILE), round(30 * k), index=0)
    draw.text((centre, centre + 94 * k), "证书专用章", font=small, fill=ink, anchor="mm")
    # A JPEG on white, not a transparent PNG: the PDF embeds JPEG bytes as they are, while
    # a PNG with alpha is decoded and recompressed in every render (a sixth of its time).
    # The seal is painted under the issuer's text, so its white ground hides nothing.
    flat = Image.new("RGB", image.size, (255, 255, 255))
    flat.paste(image, mask=image)
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=90)
    return out.getvalue()


def render_html(content: CertificateContent) -> str:
    """The certificate as the HTML that xhtml2pdf turns into the PDF.

    Images are referred to by name (cert:photo, cert:qr, cert:seal) and handed over
    by ``render_pdf`` as the document asks for them: tens of kilobytes of base64 in the
    markup would cost the HTML parser more than the rest of the page."""
    return _template().render(
        c=content,
        hours=hours_text(content.minutes),
        score=score_text(content.score),
        issue_date=date_text(content.issue_date),
        # Eight no-break spaces are two CJK characters wide (0.26 em each): they pad 姓名 and
        # 性别 to the width of 身份证号, as xhtml2pdf collapses the ideographic space.
        pad="\xa0" * 8,
        photo_src="cert:photo",
        qr_src="cert:qr",
        seal_src="cert:seal",
    )


def render_pdf(content: CertificateContent, photo: bytes) -> bytes:
    """Render the certificate to PDF bytes, or raise RenderError saying why not."""
    images = {
        "cert:photo": photo_uri(photo),
        "cert:qr": _data_uri("image/png", qr_png(content.verify_url)),
        "cert:seal": _data_uri("image/jpeg", seal_jpeg(content.centre_name)),
    }
    meta = {
        "title": f"合格证书 {content.number}",
        "author": content.centre_name,
        "subject": content.batch_name,
    }
    try:
        return pdf.html_to_pdf(render_html(content), images=images, meta=meta)
    except pdf.PdfError as error:
        raise RenderError(str(error)) from None


def write_certificate(content: CertificateContent, photo_path: Path, dest: Path) -> int:
    """Read the photo, render, and store the PDF atomically at dest; returns its size."""
    try:
        photo = photo_path.read_bytes()
    except OSError as error:
        raise RenderError(f"照片文件缺失或无法读取：{error.strerror or error}") from None
    pdf = render_pdf(content, photo)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader never sees half a file, and a duplicate job
    # rendering the same number at the same time replaces it whole.
    partial = dest.with_name(f".{dest.name}.{threading.get_ident()}.part")
    partial.write_bytes(pdf)
    os.replace(partial, dest)
    return len(pdf)
