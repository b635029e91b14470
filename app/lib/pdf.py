"""HTML to PDF with xhtml2pdf and the CJK font, for certificates and printable records.

The font registration and ReportLab settings are done once per process. Documents may
only embed data: URIs (no file and no network reads), so a template cannot reach outside.
"""

from __future__ import annotations

import functools
import io
import threading
from pathlib import Path

# Debian's fonts-wqy-microhei (installed by the Makefile); index 0 of the collection.
FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_NAME = "WQYMicroHei"
_setup_lock = threading.Lock()


class PdfError(Exception):
    """A PDF could not be made; the message says why, in Chinese."""


@functools.cache
def setup() -> None:
    """Register the CJK font with ReportLab and tune it for Chinese, once per process."""
    with _setup_lock:
        if not FONT_FILE.is_file():
            raise PdfError(
                f"找不到中文字体 {FONT_FILE}：请安装 Debian 软件包 fonts-wqy-microhei（make run 会自动安装）"
            )
        from reportlab import rl_config
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont
        from xhtml2pdf import default, reportlab_paragraph

        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_FILE), subfontIndex=0))
        # The collection has no bold or italic face: every style draws with the one face.
        for bold in (0, 1):
            for italic in (0, 1):
                addMapping(FONT_NAME, bold, italic, FONT_NAME)
        # Binary streams: ReportLab's pure-Python ASCII85 encoder alone doubled the render
        # time, and the file is a quarter smaller without it.
        rl_config.useA85 = 0
        # Chinese line breaking: ReportLab's no-line-start set is Japanese and lacks the
        # full-width comma and friends, so a line could begin with "，".
        if "，" not in reportlab_paragraph.ALL_CANNOT_START:
            reportlab_paragraph.ALL_CANNOT_START += "，；：！？》”’"
        # xhtml2pdf copies this table into each document; the CSS then says "cjk".
        default.DEFAULT_FONT["cjk"] = FONT_NAME


def resource_policy():
    """Only data: URIs: no file (base_dir=None) and no network."""
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    return ResourceAccessPolicy(allow_remote=False, base_dir=None, max_render_seconds=30)


def html_to_pdf(
    html: str, *, images: dict[str, str] | None = None, title: str = "", author: str = ""
) -> bytes:
    """Render HTML to PDF bytes (its CSS says ``font-family: cjk``); ``images`` maps the
    names the markup uses to data: URIs."""
    from xhtml2pdf import pisa

    setup()
    images = images or {}
    out = io.BytesIO()
    status = pisa.CreatePDF(
        html,
        dest=out,
        encoding="utf-8",
        link_callback=lambda uri, _relative: images.get(uri, uri),
        resource_policy=resource_policy(),
        context_meta={"title": title, "author": author},
    )
    if status.err:
        raise PdfError(f"PDF 生成失败（{status.err} 个错误）")
    return out.getvalue()
