"""The workbooks an administrator downloads: the refused rows of an import, and the template."""

from __future__ import annotations

from collections.abc import Iterator

from app.admin.imports.reading import FIELDS, HEADERS
from app.admin.imports.report import ImportReport
from app.lib.workbook import Sheet, xlsx_bytes

TEMPLATE_NOTES = (
    "学员名单填写说明",
    "1. 只导入第一个工作表“学员名单”；第一行为表头：身份证号、姓名、性别、工作单位、批次（列的顺序不限）。",
    "2. 身份证号为18位，末位X大小写均可；请保持该列为“文本”格式，否则 Excel 会把号码变成科学计数法而丢失末几位。",
    "3. 性别填写“男”或“女”，须与身份证号第17位一致（奇数为男，偶数为女）。",
    "4. 批次须与系统中的批次名称完全一致。",
    "5. 新学员的初始密码为身份证号后六位，首次登录须修改；已有账号的学员只增加报名，密码不变。",
    "6. 同一身份证号在一个文件中只能出现一次；已报名该批次的行会跳过并计为“已报名”。",
    "7. 第2行是示例（虚构的人），导入前请删除或改写为真实学员。",
)


def error_workbook(report: ImportReport) -> bytes:
    """The refused rows with their reasons, to be corrected and imported again."""

    def rows() -> Iterator[list[object]]:
        for error in report.errors:
            yield [error.row, *(error.values.get(f, "") for f in FIELDS), error.reason]

    sheet = Sheet(
        "错误行",
        header=["原行号", *HEADERS.values(), "错误原因"],
        rows=rows(),
        widths=(8, 22, 10, 6, 30, 36, 60),
        text_columns={1},
    )
    return xlsx_bytes([sheet])


# One example row (a made-up ID number with a valid check digit; the 17th digit is odd: 男).
TEMPLATE_EXAMPLE = {
    "id_number": "110105198503120012",
    "name": "张安全",
    "gender": "男",
    "work_unit": "天津某化工有限公司",
    "batch": "注册安全工程师继续教育 2026年第一期",
}


def template_workbook() -> bytes:
    """The learner list's header with one example row, and a sheet of instructions."""
    # The ID column is formatted as text: Excel would turn 18 digits into a rounded number.
    learners = Sheet(
        "学员名单",
        header=list(HEADERS.values()),
        rows=[[TEMPLATE_EXAMPLE[f] for f in FIELDS]],
        widths=(24, 14, 8, 34, 40),
        text_columns={0},
    )
    notes = Sheet("填写说明", rows=[[line] for line in TEMPLATE_NOTES], widths=(100,))
    return xlsx_bytes([learners, notes])
