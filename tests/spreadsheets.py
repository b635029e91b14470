"""Spreadsheet files built in the tests: ordinary ones, and the hostile ones an attacker
would upload (a zip bomb, XXE and billion laughs, a row numbered 20,000,000, too wide)."""

from __future__ import annotations

import functools
import io
import zipfile

from openpyxl import Workbook

SHEET = "xl/worksheets/sheet1.xml"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
ID_NUMBER = "110105198001010011"


def workbook(rows, **cells) -> bytes:
    """An .xlsx whose first sheet holds ``rows``; ``cells`` (e.g. BH1="x") are set as well."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(list(row))
    for coordinate, value in cells.items():
        sheet[coordinate] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_part(data: bytes, name: str, content: bytes) -> bytes:
    """The same .xlsx with one part replaced (or added)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info))
        target.writestr(name, content, compresslevel=9)
    return out.getvalue()


def sheet_xml(body: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}'
        f'<worksheet xmlns="{NS}">{body}</worksheet>'
    ).encode()


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


@functools.cache
def zip_bomb() -> bytes:
    """A small .xlsx whose sheet inflates to 50 MB of blanks (ratio about 1000:1)."""
    padding = " " * (50 * 1024 * 1024)
    body = f'<sheetData><row r="1">{_cell("A1", "身份证号")}</row></sheetData>{padding}'
    return with_part(workbook([["x"]]), SHEET, sheet_xml(body))


def xxe() -> bytes:
    """A sheet whose cell is an external entity reading a local file."""
    prolog = '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    body = f'<sheetData><row r="1">{_cell("A1", "&xxe;")}</row></sheetData>'
    return with_part(workbook([["x"]]), SHEET, sheet_xml(body, prolog))


def billion_laughs() -> bytes:
    """Shared strings whose one string expands to 10^9 "lol"s."""
    entities = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    strings = (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE sst [<!ENTITY lol0 "lol">{entities}]>\n'
        f'<sst xmlns="{NS}" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>'
    ).encode()
    return with_part(workbook([["x"]]), "xl/sharedStrings.xml", strings)


def utf16_doctype() -> bytes:
    """The XXE sheet encoded in UTF-16, which a byte search for "<!DOCTYPE" would miss."""
    text = sheet_xml(
        f'<sheetData><row r="1">{_cell("A1", "&xxe;")}</row></sheetData>',
        '<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n',
    ).decode()
    return with_part(workbook([["x"]]), SHEET, text.replace("UTF-8", "UTF-16").encode("utf-16"))


def far_row(row: int = 20_000_000, dimension: str | None = "A1:A{row}") -> bytes:
    """A few KB whose one row is numbered ``row`` (openpyxl would pad every row above it)."""
    declared = f'<dimension ref="{dimension.format(row=row)}"/>' if dimension else ""
    body = f'{declared}<sheetData><row r="{row}">{_cell(f"A{row}", "x")}</row></sheetData>'
    return with_part(workbook([["x"]]), SHEET, sheet_xml(body))


def wide(columns: int = 60, dimension: str | None = "A1:A1") -> bytes:
    """A row of ``columns`` cells, under a dimension that says otherwise."""
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    cells = "".join(f'<c t="inlineStr"><is><t>{n}</t></is></c>' for n in range(columns))
    body = f'{declared}<sheetData><row r="1">{cells}</row></sheetData>'
    return with_part(workbook([["x"]]), SHEET, sheet_xml(body))


def encrypted() -> bytes:
    """What Excel saves with a password: an OLE compound file holding EncryptionInfo."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + "EncryptionInfo".encode("utf-16-le")


# Hostile files, the text their refusal must contain, for the reader and every upload.
HOSTILE = {
    "zip_bomb": (zip_bomb, "压缩炸弹"),
    "xxe": (xxe, "DOCTYPE"),
    "billion_laughs": (billion_laughs, "DOCTYPE"),
    "utf16_doctype": (utf16_doctype, "DOCTYPE"),
    "far_row": (far_row, "超过单次导入上限 20000 行（工作表有 20000000 行"),
    "far_row_undeclared": (lambda: far_row(dimension=None), "工作表有 20000000 行"),
    "wide": (wide, "超过上限 50 列"),
    "widest": (lambda: wide(dimension="A1:XFD1"), "最右到 XFD 列"),
    "encrypted": (encrypted, "文件设置了打开密码"),
}
