"""Builds application_form.docx, the docxtpl template of the Word application form.

The template is committed; run ``python -m app.registration.docx_template`` after changing
this file to write it again. Cells hold Jinja tags that docxtpl fills in (``{%tr %}``
repeats table rows)."""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

TARGET = Path(__file__).parent / "application_form.docx"
FONT = "宋体"


def _font(run, size: float | None = None, bold: bool = False) -> None:
    run.font.name = FONT
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    if size:
        run.font.size = Pt(size)
    run.bold = bold


def _cell(cell, text: str, *, bold: bool = False, shade: bool = False, center: bool = False):
    cell.text = ""
    paragraph = cell.paragraphs[0]
    if center:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(paragraph.add_run(text), 10, bold)
    if shade:
        props = cell._element.get_or_add_tcPr()
        fill = props.makeelement(qn("w:shd"), {qn("w:val"): "clear", qn("w:fill"): "EDEDED"})
        props.append(fill)
    return cell


def _grid(document, rows: list[list[tuple[str, int]]], widths: list[float]):
    """A bordered table; each row lists (text, column span). A text starting with "*" is a
    label: printed without the star, on a grey ground."""
    table = document.add_table(rows=len(rows), cols=len(widths))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for r, row in enumerate(rows):
        column = 0
        for text, span in row:
            cell = table.cell(r, column)
            if span > 1:
                cell = cell.merge(table.cell(r, column + span - 1))
            label = text.startswith("*")
            _cell(cell, text.removeprefix("*"), shade=label, center=label and len(widths) > 4)
            column += span
    for row in table.rows:
        for index, cell in enumerate(row.cells):
            cell.width = Mm(widths[index])
    return table


def _heading(document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.paragraph_format.space_before = Pt(6)
    paragraph.paragraph_format.space_after = Pt(2)
    _font(paragraph.add_run(text), 11, True)


def build(target: Path = TARGET) -> Path:
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Mm(16))
    section.top_margin, section.bottom_margin = Mm(14), Mm(12)
    style = document.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(10)
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)

    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run("{{ f.title }}"), 18, True)
    sub = document.add_paragraph()
    _font(
        sub.add_run(
            "注册机构：{{ f.authority }}　　注册渠道：{{ f.channel_label }}"
            "{% if submitted %}　　上报日期：{{ submitted }}{% endif %}"
        ),
        9.5,
    )

    _heading(document, "一、个人基本信息")
    widths = [30, 45, 26, 45, 32]
    personal = _grid(
        document,
        [
            [
                ("*姓名", 1),
                ("{{ f.name }}", 1),
                ("*性别", 1),
                ("{{ p.gender }}", 1),
                ("{{ photo }}", 1),
            ],
            [("*证件类型及号码", 1), ("{{ id_text }}", 3), ("", 1)],
            [("*出生日期", 1), ("{{ birth }}", 1), ("*民族", 1), ("{{ p.nation }}", 1), ("", 1)],
            [
                ("*学历", 1),
                ("{{ p.education }}", 1),
                ("*所学专业", 1),
                ("{{ p.major }}", 1),
                ("", 1),
            ],
            [
                ("*毕业院校", 1),
                ("{{ p.school }}", 1),
                ("*毕业时间", 1),
                ("{{ graduated }}", 1),
                ("", 1),
            ],
            [("*技术职称", 1), ("{{ p.title }}", 1), ("*手机号码", 1), ("{{ p.mobile }}", 2)],
            [("*电子邮箱", 1), ("{{ p.email }}", 1), ("*邮政编码", 1), ("{{ p.postcode }}", 2)],
            [("*通讯地址", 1), ("{{ p.address }}", 4)],
        ],
        widths,
    )
    photo = personal.cell(0, 4).merge(personal.cell(4, 4))
    photo.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for paragraph in photo.paragraphs[1:]:
        paragraph._element.getparent().remove(paragraph._element)

    _heading(document, "二、资格及注册信息")
    _grid(
        document,
        [
            [
                ("*资格证书编号", 1),
                ("{{ qualification.certificate_no }}", 1),
                ("*资格级别", 1),
                ("{{ qualification.level }}", 1),
            ],
            [
                ("*取得资格日期", 1),
                ("{{ qualified_on }}", 1),
                ("*申请注册类别", 1),
                ("{{ f.category }}", 1),
            ],
            # Only a change, renewal or re-registration has a former registration: an
            # initial form carries no empty rows for it.
            [("{%tr if registration %}", 4)],
            [
                ("*原注册编号", 1),
                (
                    "{{ registration.number }}{% if registration.state != 'valid' %}"
                    "（{{ registration.state_label }}）{% endif %}",
                    1,
                ),
                ("*原注册有效期", 1),
                ("{{ registration.valid_from }} 至 {{ registration.valid_until }}", 1),
            ],
            [
                ("*原注册类别", 1),
                ("{{ registration.category }}", 1),
                ("*原聘用单位", 1),
                ("{{ registration.employer }}", 1),
            ],
            [("{%tr endif %}", 4)],
            [("{%tr if f.late %}", 4)],
            [("*逾期说明", 1), ("{{ f.late }}", 3)],
            [("{%tr endif %}", 4)],
        ],
        [32, 58, 30, 58],
    )

    _heading(document, "三、聘用单位信息")
    _grid(
        document,
        [
            [("*单位名称", 1), ("{{ employer.name }}", 3)],
            [
                ("*统一社会信用代码", 1),
                ("{{ employer.uscc }}", 1),
                ("*单位属性代码", 1),
                ("{{ employer.attribute }} {{ employer.attribute_label }}", 1),
            ],
            [
                ("*单位地址", 1),
                ("{{ employer.address }}", 1),
                ("*邮政编码", 1),
                ("{{ employer.postcode }}", 1),
            ],
            [
                ("*联系人", 1),
                ("{{ employer.contact }}", 1),
                ("*联系电话", 1),
                ("{{ employer.phone }}", 1),
            ],
            [("*聘用单位意见", 1), ("\n\n（盖章）　　　　年　　月　　日", 3)],
        ],
        [32, 58, 30, 58],
    )
    note = document.add_paragraph()
    _font(
        note.add_run(
            "本表须双面打印在一张 A4 纸上（第一页为正面，第二页为背面）。"
            "执行规则：{{ f.rules.name }}（第{{ f.rules.version }}版）。"
        ),
        8.5,
    )
    note.runs[0].font.color.rgb = RGBColor(0x44, 0x44, 0x44)
    note.add_run().add_break(WD_BREAK.PAGE)

    _heading(document, "四、从事安全生产相关业务工作经历")
    _grid(
        document,
        [
            [
                ("*起止时间", 1),
                ("*工作单位", 1),
                ("*职务", 1),
                ("*从事安全生产相关业务工作内容", 1),
                ("*证明人", 1),
            ],
            [("{%tr for e in experiences %}", 5)],
            [
                ("{{ e.period }}", 1),
                ("{{ e.unit }}", 1),
                ("{{ e.position }}", 1),
                ("{{ e.duty }}", 1),
                ("{{ e.witness }}", 1),
            ],
            [("{%tr endfor %}", 5)],
            [("{%tr for _ in experience_blanks %}", 5)],
            [("　", 1), ("", 1), ("", 1), ("", 1), ("", 1)],
            [("{%tr endfor %}", 5)],
        ],
        [30, 42, 22, 68, 16],
    )

    _heading(
        document,
        "{% if education %}五、继续教育信息（{{ education.label or '本注册周期' }} {{ education.period }}）{% endif %}",
    )
    _grid(
        document,
        [
            [("{%tr if education %}", 4)],
            [("*培训批次", 1), ("*学时", 1), ("*合格证书编号", 1), ("*发证日期", 1)],
            [("{%tr for e in education_entries %}", 4)],
            [
                ("{{ e.batch }}", 1),
                ("{{ e.hours }}", 1),
                ("{{ e.number }}", 1),
                ("{{ e.issued }}", 1),
            ],
            [("{%tr endfor %}", 4)],
            [
                ("*合计", 1),
                ("{{ education.total_hours }}", 1),
                (
                    "规定 {{ education.required_hours }} 学时{% if not education.met %}，"
                    "还差 {{ education.missing_hours }} 学时{% endif %}（由本平台合格证书自动汇总）",
                    2,
                ),
            ],
            [("{%tr endif %}", 4)],
        ],
        [70, 20, 50, 38],
    )

    _heading(document, "申请人声明及审核意见")
    _grid(
        document,
        [
            [
                ("*申请人声明", 1),
                (
                    "本人承诺所填信息真实、准确，如有虚假，愿承担相应责任。\n\n"
                    "申请人签字：　　　　　　　　年　　月　　日",
                    1,
                ),
            ],
            [("*注册机构初审意见", 1), ("\n\n（盖章）　　　　年　　月　　日", 1)],
            [("*终审意见", 1), ("\n\n（盖章）　　　　年　　月　　日", 1)],
        ],
        [36, 142],
    )
    document.core_properties.title = "注册安全工程师注册申请表"
    document.save(str(target))
    return target


if __name__ == "__main__":
    print(f"written {build()}")
