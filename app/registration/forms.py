"""The application form (申请表) as a PDF for two-sided A4 printing and as a Word file
built from a docxtpl template; both from the plain data ``submission.build_form`` makes."""

from __future__ import annotations

import functools
import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.accounts import documents
from app.config import ROOT, Config
from app.lib import pdf
from app.registration import sections, submission

DOCX_TEMPLATE = Path(__file__).parent / "application_form.docx"
PDF_TEMPLATE = "registration/form_pdf.html"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Rows the printed tables always show, so the form keeps its two pages.
EXPERIENCE_ROWS = 10
EDUCATION_ROWS = 6


def month_text(value: str) -> str:
    """2018-07 -> 2018.07; empty -> 至今."""
    return value.replace("-", ".") if value else "至今"


def date_text(value: str | None) -> str:
    """2024-05-10 -> 2024年5月10日."""
    if not value:
        return ""
    year, month, day = value[:10].split("-")
    return f"{int(year)}年{int(month)}月{int(day)}日"


def context(form: dict) -> dict:
    """The form with everything the templates print already worded."""
    personal = dict(form.get("personal") or {})
    experiences = [
        {**e, "period": f"{month_text(e['start'])}—{month_text(e['end'])}"}
        for e in form.get("experiences", [])
    ]
    education = form.get("education")
    entries = list(education["entries"]) if education else []
    return {
        "f": form,
        "p": personal,
        "birth": date_text(personal.get("birth_date")),
        "graduated": month_text(personal.get("graduated_on", "")) if personal else "",
        "id_text": documents.display(form["id_type"], form["id_number"]),
        "employer": form.get("employer") or {},
        "qualification": form.get("qualification") or {},
        "qualified_on": date_text((form.get("qualification") or {}).get("qualified_on")),
        "experiences": experiences,
        "experience_blanks": range(max(0, EXPERIENCE_ROWS - len(experiences))),
        "education": education,
        "education_entries": [{**e, "issued": date_text(e["issued_on"])} for e in entries],
        "education_blanks": range(max(0, EDUCATION_ROWS - len(entries))),
        "registration": form.get("registration"),
        "submitted": date_text(form.get("submitted_at")),
        "attributes": sections.UNIT_ATTRIBUTES,
    }


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(ROOT / "templates")),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def photo_path(config: Config, form: dict, *, submitted: bool) -> Path | None:
    """Where the form's photo is: kept beside the forms once submitted, else the profile's."""
    if not form.get("photo"):
        return None
    base = submission.photo_dir(config) if submitted else config.photo_dir
    path = base / form["photo"]
    return path if path.is_file() else None


def render_pdf(form: dict, photo: bytes | None) -> bytes:
    """The form as a two-page A4 PDF (print on both sides of one sheet)."""
    html = _environment().get_template(PDF_TEMPLATE).render(**context(form), photo_src="form:photo")
    images = {"form:photo": pdf.data_uri("image/jpeg", photo)} if photo else {}
    meta = {"title": form["title"], "author": form["name"], "subject": form["kind_label"]}
    return pdf.html_to_pdf(html, images=images, meta=meta)


def render_docx(form: dict, photo: bytes | None) -> bytes:
    """The form as a Word document from the committed template (导出到word打印)."""
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    template = DocxTemplate(str(DOCX_TEMPLATE))
    values = context(form)
    values["photo"] = InlineImage(template, io.BytesIO(photo), width=Mm(25)) if photo else "照片"
    values["experience_blanks"] = list(values["experience_blanks"])
    values["education_blanks"] = list(values["education_blanks"])
    template.render(values, autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()
