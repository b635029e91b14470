"""Spreadsheets in: the one reader every import uses (the writer is app/lib/workbook.py).

Reading (``read_rows``) takes an uploaded .xlsx or .csv and returns its non-empty rows as
trimmed text with the row numbers Excel shows. An upload is untrusted, so before openpyxl
parses anything: the zip directory is checked (total size, compression ratio of each part,
number of parts); every XML part is refused if it declares a DOCTYPE (the door to entity
expansion and external entities); and the first worksheet's declared dimension and its row
and column numbers are checked against the limits, so a 5 KB file whose one row is numbered
20,000,000 is refused in milliseconds instead of being padded out row by row. Every refusal
is an ``AppError`` with a Chinese message.

openpyxl is imported when a workbook is read, not with this module (app/lib/workbook.py
says why).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import decimal
import functools
import io
import os
import re
import zipfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from app.errors import AppError
from app.lib import xlsx_safety

# Rows above the data that may hold a title and the header.
HEADER_ROWS = 10
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .xls, and encrypted .xlsx
# A part this small cannot hurt whatever its compression ratio.
# Excel keeps 15 significant digits: a longer number (an ID number typed into a
# number cell) has lost its last digits.
EXACT_DIGITS = 15


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much of an upload we are willing to read."""

    max_bytes: int = 10 * 1024 * 1024
    max_rows: int = 20_000  # data rows; HEADER_ROWS more are allowed above them
    max_columns: int = 50
    max_unzipped_bytes: int = 100 * 1024 * 1024
    max_ratio: int = 100  # uncompressed / compressed size of any part over RATIO_FLOOR
    max_parts: int = 1000

    @property
    def max_sheet_rows(self) -> int:
        return self.max_rows + HEADER_ROWS


@dataclasses.dataclass(frozen=True)
class Row:
    """One non-empty row: its number as Excel shows it and its cells as trimmed text."""

    number: int
    cells: tuple[str, ...]
    # Columns (0-based) whose number had more digits than Excel keeps.
    lossy: frozenset[int] = frozenset()

    def get(self, column: int) -> str:
        return self.cells[column] if column < len(self.cells) else ""


def read_rows(
    data: bytes,
    *,
    file_name: str = "",
    formats: Collection[str] = ("xlsx", "csv"),
    limits: Limits = Limits(),
) -> list[Row]:
    """The non-empty rows of an .xlsx file's first worksheet or of a .csv file.

    The format is told by the content (a .csv also needs its file name to end in .csv);
    ``formats`` names those the caller accepts. Anything else raises ``AppError``."""
    if not data:
        raise AppError("file_empty", "上传的文件是空的，请重新选择文件")
    if len(data) > limits.max_bytes:
        raise AppError(
            "file_too_big",
            f"文件大小为 {xlsx_safety.size_text(len(data))}，超过 {xlsx_safety.size_text(limits.max_bytes)} 的上限，请拆分后导入",
        )
    if data.startswith(b"PK") and "xlsx" in formats:
        return _read_xlsx(data, limits, formats)
    if data.startswith(OLE_MAGIC) and "EncryptionInfo".encode("utf-16-le") in data:
        raise xlsx_safety.encrypted()
    if Path(file_name).suffix.lower() == ".csv" and "csv" in formats:
        return _read_csv(data, limits)
    raise xlsx_safety.bad_format(formats)


def read_file(path: str | os.PathLike, limits: Limits = Limits()) -> bytes:
    """A file from disk for an import (the CLI), never reading more than the limit."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            return file.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise AppError("file_missing", f"找不到文件：{path}") from None
    except OSError as error:
        raise AppError("file_missing", f"无法读取文件 {path}：{error.strerror}") from None


def header_field(text: str, aliases: Mapping[str, Collection[str]]) -> str | None:
    """The field a header cell names; spaces, "*", ":" and (notes) are ignored, and case."""
    cleaned = _HEADER_NOISE.sub("", text).lower()
    for field, names in aliases.items():
        if cleaned in {name.lower() for name in names}:
            return field
    return None


_HEADER_NOISE = re.compile(r"[（(][^）)]*[）)]|[\s*＊:：]")


def find_header(
    rows: Sequence[Row],
    aliases: Mapping[str, Collection[str]],
    *,
    anchor: Collection[str],
    search_rows: int = HEADER_ROWS,
) -> tuple[int, list[str | None]] | None:
    """The header among the first ``search_rows`` rows: the first naming every anchor field.

    Returns its position in ``rows`` and the field of each of its columns (None where a
    column names no field), or None when there is no such row."""
    for index, row in enumerate(rows):
        if row.number > search_rows:
            break
        fields = [header_field(cell, aliases) for cell in row.cells]
        if all(field in fields for field in anchor):
            return index, fields
    return None


# --- refusals ---------------------------------------------------------------------------


def _too_many_rows(limits: Limits, rows: int | None = None) -> AppError:
    counted = f"（工作表有 {rows} 行，含表头和空白行）" if rows else ""
    return AppError(
        "file_too_many_rows",
        f"文件超过单次导入上限 {limits.max_rows} 行{counted}，请删除多余的行或拆分后分批导入",
    )


def _too_many_columns(limits: Limits, column: int) -> AppError:
    from openpyxl.utils.cell import get_column_letter

    return AppError(
        "file_too_many_columns",
        f"表格有 {column} 列（最右到 {get_column_letter(min(column, 18278))} 列），"
        f"超过上限 {limits.max_columns} 列：请删除多余的列后重新导入",
    )


def _empty() -> AppError:
    return AppError("file_empty", "文件中没有数据：第一个工作表是空的")


# --- .xlsx ------------------------------------------------------------------------------


def _read_xlsx(data: bytes, limits: Limits, formats: Collection[str]) -> list[Row]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (*xlsx_safety.ZIP_ERRORS, ValueError):
        raise xlsx_safety.bad_format(formats) from None
    with archive:
        try:
            xlsx_safety.check_archive(archive, limits)
            for info in archive.infolist():
                xlsx_safety.check_xml_part(archive, info)
        except xlsx_safety.ZIP_ERRORS:
            raise xlsx_safety.bad_format(formats) from None
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(
                io.BytesIO(data), read_only=True, data_only=True, keep_links=False
            )
        except Exception:
            # openpyxl raises many types (KeyError, ValueError, XML errors) for broken files.
            raise xlsx_safety.bad_format(formats) from None
        try:
            if not workbook.worksheets:
                raise _empty()
            sheet = workbook.worksheets[0]
            try:
                # The part openpyxl reads this sheet from (openpyxl is pinned).
                last_row, last_column = _sheet_extent(archive, sheet._worksheet_path, limits)
            except (*xlsx_safety.ZIP_ERRORS, KeyError):
                raise xlsx_safety.bad_format(formats) from None
            rows = _sheet_rows(sheet, last_row, last_column, formats)
        finally:
            workbook.close()
    if not rows:
        raise _empty()
    return rows


@functools.cache
def _bad_number() -> tuple[type[Exception], ...]:
    """What a malformed row or cell number raises, openpyxl's coordinates included."""
    from openpyxl.utils.exceptions import CellCoordinatesException

    return (ValueError, TypeError, OverflowError, CellCoordinatesException)


def _row_number(text: str) -> int:
    """A row number as openpyxl reads it ("5", or "5.0", or "2e7")."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


class _Extent:
    """The last row and column of a worksheet, from its declared dimension and from its row
    and cell numbers (counted as openpyxl counts them); beyond the limits is refused at once."""

    def __init__(self, limits: Limits) -> None:
        from openpyxl.utils.cell import coordinate_to_tuple

        self.limits = limits
        self.row = self.column = self.last_row = self.last_column = 0
        self.coordinate = coordinate_to_tuple

    def check(self, row: int, column: int) -> None:
        if row > self.limits.max_sheet_rows:
            raise _too_many_rows(self.limits, row)
        if column > self.limits.max_columns:
            raise _too_many_columns(self.limits, column)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(" ")
        if namespace != SHEET_NS:
            return
        if local == "dimension":
            # A wrong dimension is ignored: the rows themselves are checked below.
            with contextlib.suppress(*_bad_number()):
                self.check(*self.coordinate(attrs.get("ref", "").rpartition(":")[2]))
        elif local == "row":
            number = attrs.get("r")
            self.row = _row_number(number) if number else self.row + 1
            if self.row < 1:
                raise ValueError("row number below 1")
            self.check(self.row, 0)
            self.column = 0
            self.last_row = max(self.last_row, self.row)
        elif local == "c":
            coordinate = attrs.get("r")
            self.column = self.coordinate(coordinate)[1] if coordinate else self.column + 1
            self.check(0, self.column)
            self.last_column = max(self.last_column, self.column)


def _sheet_extent(archive: zipfile.ZipFile, path: str, limits: Limits) -> tuple[int, int]:
    """A worksheet's last row and column, read without building any row."""
    extent = _Extent(limits)
    parser = xlsx_safety.xml_parser()
    parser.StartElementHandler = extent.start
    with archive.open(path) as part:
        try:
            xlsx_safety.feed(parser, part)
        except _bad_number():
            raise zipfile.BadZipFile("bad row or cell number") from None
    return extent.last_row, extent.last_column


def _sheet_rows(sheet, last_row: int, last_column: int, formats: Collection[str]) -> list[Row]:
    if not last_row or not last_column:
        return []
    rows: list[Row] = []
    try:
        # Bounded by what was checked: openpyxl pads missing rows and cells up to these.
        cells_by_row = sheet.iter_rows(min_row=1, max_row=last_row, max_col=last_column)
        for number, cells in enumerate(cells_by_row, start=1):
            texts = [_text(cell) for cell in cells]
            lossy = frozenset(
                column
                for column, cell in enumerate(cells)
                if isinstance(cell.value, float) and abs(cell.value) >= 10**EXACT_DIGITS
            )
            row = _row(number, texts, lossy)
            if row is not None:
                rows.append(row)
    except AppError:
        raise
    except Exception:
        raise xlsx_safety.bad_format(formats) from None
    return rows


def _row(number: int, texts: list[str], lossy: frozenset[int] = frozenset()) -> Row | None:
    while texts and not texts[-1]:
        texts.pop()
    return Row(number, tuple(texts), lossy) if texts else None


def _text(cell) -> str:
    """A cell's value as the person typed it: numbers without exponent or float noise,
    dates as ISO dates, percentages with their sign."""
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds" if value.second else "minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds" if value.second else "minutes")
    if isinstance(value, float):
        if "%" in (cell.number_format or ""):
            return _number(value * 100) + "%"
        return _number(value)
    return str(value).strip()


def _number(value: float) -> str:
    """At most Excel's 15 significant digits, never in scientific notation."""
    text = format(decimal.Decimal(format(value, f".{EXACT_DIGITS}g")), "f")
    return "0" if text == "-0" else text


# --- .csv -------------------------------------------------------------------------------


def _read_csv(data: bytes, limits: Limits) -> list[Row]:
    if b"\x00" in data:
        raise AppError(
            "file_format",
            "无法读取该 CSV 文件（可能是 UTF-16 编码或不是文本文件）："
            "请在 Excel 中“另存为” CSV UTF-8（逗号分隔）后重新上传",
        )
    # Excel writes UTF-8 with a byte-order mark, or GB18030/GBK in a Chinese Windows.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise AppError("file_format", "CSV 文件编码无法识别，请另存为 UTF-8 编码后重试")
    rows: list[Row] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for number, cells in enumerate(reader, start=1):
            if number > limits.max_sheet_rows:
                raise _too_many_rows(limits)
            row = _row(number, [cell.strip() for cell in cells])
            if row is None:
                continue
            if len(row.cells) > limits.max_columns:
                raise _too_many_columns(limits, len(row.cells))
            rows.append(row)
    except csv.Error:
        raise AppError(
            "file_format", f"CSV 文件第 {reader.line_num} 行格式有误，请检查引号和分隔符"
        ) from None
    if not rows:
        raise AppError("file_empty", "文件中没有数据")
    return rows
