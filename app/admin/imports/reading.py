"""Reading a learner list: the shared spreadsheet reader, then the header found by column
names in any order, then one ``SheetRow`` per data row."""

from __future__ import annotations

import dataclasses

from app.errors import AppError
from app.lib import spreadsheet

FIELDS = ("id_number", "name", "gender", "work_unit", "batch")
HEADERS = {
    "id_number": "身份证号",
    "name": "姓名",
    "gender": "性别",
    "work_unit": "工作单位",
    "batch": "批次",
}
# Header spellings seen in real spreadsheets (spaces, "*" and (notes) are ignored).
ALIASES = {
    "id_number": {"身份证号", "身份证号码", "身份证", "证件号码"},
    "name": {"姓名"},
    "gender": {"性别"},
    "work_unit": {"工作单位", "单位", "单位名称"},
    "batch": {"批次", "批次名称", "培训批次"},
}
LIMITS = spreadsheet.Limits()
MAX_BYTES = LIMITS.max_bytes
MAX_ROWS = LIMITS.max_rows
HEADER_SEARCH_ROWS = spreadsheet.HEADER_ROWS


@dataclasses.dataclass
class SheetRow:
    """One data row as read from the file: its Excel row number and its cells as text."""

    row: int
    values: dict[str, str]
    numeric_id: bool = False


def read_sheet(data: bytes, file_name: str = "") -> list[SheetRow]:
    """The data rows of the first worksheet, located by header names in any order."""
    rows = spreadsheet.read_rows(data, file_name=file_name, formats=("xlsx",), limits=LIMITS)
    found = spreadsheet.find_header(rows, ALIASES, anchor=("id_number",))
    if found is None:
        if rows[0].number > HEADER_SEARCH_ROWS:
            raise AppError("import_empty", "文件中没有数据：第一个工作表是空的")
        found = 0, [spreadsheet.header_field(cell, ALIASES) for cell in rows[0].cells]
    index, columns = found
    missing = [HEADERS[f] for f in FIELDS if f not in columns]
    if missing:
        raise AppError(
            "import_header",
            f"表头缺少列：{'、'.join(missing)}。表头须包含 "
            f"{'、'.join(HEADERS.values())} 五列（顺序不限）",
        )
    repeated = [HEADERS[f] for f in FIELDS if columns.count(f) > 1]
    if repeated:
        raise AppError("import_header", f"表头中“{'、'.join(repeated)}”列出现了不止一次")
    position = {field: columns.index(field) for field in FIELDS}
    result: list[SheetRow] = []
    for row in rows[index + 1 :]:
        values = {f: " ".join(row.get(i).split()) for f, i in position.items()}
        if not any(values.values()):
            continue
        if len(result) >= MAX_ROWS:
            raise AppError(
                "import_too_many", f"文件超过单次导入上限 {MAX_ROWS} 行，请拆分后分批导入"
            )
        numeric = position["id_number"] in row.lossy
        result.append(SheetRow(row=row.number, values=values, numeric_id=numeric))
    if not result:
        raise AppError("import_empty", "文件中除表头外没有学员数据")
    return result
