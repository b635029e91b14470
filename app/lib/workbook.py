"""Spreadsheets out: the one writer every export uses.

``write_xlsx`` and ``xlsx_bytes`` stream rows into a workbook with openpyxl's write-only
mode. Text is always written as text: a cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is never a formula, and stays text when someone edits it in Excel.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.cell import get_column_letter

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="E8F1FC")
TEXT_FORMAT = "@"
# What Excel (or a CSV reader) may take for the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_CELL_CHARS = 32_767


@dataclasses.dataclass
class Sheet:
    """One worksheet to write.

    ``rows`` may be any iterable (a generator streams); each value is written as it is
    (numbers as numbers, dates as dates), every string as text. ``text_columns`` (0-based)
    are formatted as text, so that Excel keeps an ID number typed or edited there as text.
    """

    title: str
    header: Sequence[str] = ()
    rows: Iterable[Sequence[object]] = ()
    widths: Sequence[float] = ()
    text_columns: Collection[int] = ()


def write_xlsx(
    target: str | os.PathLike | BinaryIO,
    sheets: Iterable[Sheet],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write sheets to a path or a binary file object, streaming (openpyxl write-only);
    returns how many rows were written, calling ``progress(rows so far)`` every 1,000.

    Strings starting with =, +, -, @, a tab or a carriage return are written as text
    (never a formula) and marked so that Excel keeps them as text when edited. A path is
    written under a temporary name and renamed, so a reader never sees half a file."""
    workbook = Workbook(write_only=True)
    written = 0
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title[:31])
        for column, width in enumerate(sheet.widths, start=1):
            worksheet.column_dimensions[get_column_letter(column)].width = width
        for column in sheet.text_columns:
            worksheet.column_dimensions[get_column_letter(column + 1)].number_format = TEXT_FORMAT
        if sheet.header:
            worksheet.freeze_panes = "A2"
            worksheet.append([_header_cell(worksheet, title) for title in sheet.header])
        for row in sheet.rows:
            worksheet.append(list(_cells(worksheet, row, sheet.text_columns)))
            written += 1
            if progress is not None and written % 1000 == 0:
                progress(written)
    if isinstance(target, str | os.PathLike):
        dest = Path(target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".part")
        workbook.save(partial)
        partial.replace(dest)
    else:
        workbook.save(target)
    return written


def xlsx_bytes(sheets: Iterable[Sheet]) -> bytes:
    """The workbook ``write_xlsx`` writes, as bytes (for a download)."""
    out = io.BytesIO()
    write_xlsx(out, sheets)
    return out.getvalue()


def _header_cell(worksheet, title: str) -> WriteOnlyCell:
    cell = _text_cell(worksheet, title)
    cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    return cell


def _cells(worksheet, row: Sequence[object], text_columns: Collection[int]) -> Iterator[object]:
    for column, value in enumerate(row):
        if isinstance(value, str) and value:
            cell = _text_cell(worksheet, value)
            if column in text_columns:
                cell.number_format = TEXT_FORMAT
            yield cell
        else:
            yield value if value != "" else None


def _text_cell(worksheet, value: str) -> WriteOnlyCell:
    text = ILLEGAL_CHARACTERS_RE.sub("", value)[:MAX_CELL_CHARS]
    cell = WriteOnlyCell(worksheet, value=text)
    cell.data_type = "s"  # openpyxl makes "=..." a formula
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
    return cell
