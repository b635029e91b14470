"""HTML to PDF with xhtml2pdf and the CJK font, shared by every printed document.

The font registration (and ReportLab's Chinese line-breaking fix) is done once per
process. Documents name their images with made-up URIs handed over as data: URIs by
``html_to_pdf``; the resource policy forbids every file and network read."""

from __future__ import annotations

import base64
import functools
import io
import threading
from pathlib import Path

# Debian's fonts-wqy-microhei (installed by the Makefile); index 0 of the collection.
FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_NAME = "WQYMicroHei"
# Replaces xhtml2pdf's default stylesheet, whose parse cost a tenth of each render; each
# template styles everything else itself.
BASE_CSS = """
html { font-family: cjk; font-size: 10pt; font-weight: normal; color: #000; margin: 0;
  padding: 0; line-height: 150%; border: 1px none; display: inline; width: auto;
  height: auto; white-space: normal; }
body, div, p, h1 { display: block; }
p, h1 { margin: 1em 0; }
"""

_setup_lock = threading.Lock()


class PdfError(Exception):
    """A document could not be rendered; the message (Chinese) says why."""


@functools.cache
def register_cjk_font() -> None:
    """Register the font with ReportLab and xhtml2pdf, once per process."""
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


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _policy():
    from xhtml2pdf.config.resources import ResourceAccessPolicy

    # Only data: URIs: no file (base_dir=None) and no network.
    return ResourceAccessPolicy(allow_remote=False, base_dir=None, max_render_seconds=30)


def html_to_pdf(html: str, *, images: dict[str, str], meta: dict[str, str]) -> bytes:
    """Render the markup; ``images`` maps the URIs it names to data: URIs."""
    from xhtml2pdf import pisa

    register_cjk_font()
    out = io.BytesIO()
    status = pisa.CreatePDF(
        html,
        dest=out,
        encoding="utf-8",
        default_css=BASE_CSS,
        # Anything else the markup names stays what it is, and the policy refuses it.
        link_callback=lambda uri, _relative: images.get(uri, uri),
        resource_policy=_policy(),
        context_meta=meta,
    )
    if status.err:
        raise PdfError(f"PDF 生成失败（{status.err} 个错误）")
    return out.getvalue()
