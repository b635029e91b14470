"""Spreadsheets out: the one writer every export uses.

``write_xlsx`` and ``xlsx_bytes`` stream rows into a workbook with openpyxl's write-only
mode. Text is always written as text: a cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is never a formula, and stays text when someone edits it in Excel.

openpyxl is imported the first time a workbook is written (``_openpyxl``), not with this
module: importing it is a tenth of a process's start (0.12 s of ~1.2 s), and most processes
(the exam servers, the worker, the command line) never write a workbook.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

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
    xl = _openpyxl()
    workbook = xl.Workbook(write_only=True)
    written = 0
    for sheet in sheets:
        worksheet = workbook.create_sheet(sheet.title[:31])
        for column, width in enumerate(sheet.widths, start=1):
            worksheet.column_dimensions[xl.get_column_letter(column)].width = width
        for column in sheet.text_columns:
            letter = xl.get_column_letter(column + 1)
            worksheet.column_dimensions[letter].number_format = TEXT_FORMAT
        if sheet.header:
            worksheet.freeze_panes = "A2"
            worksheet.append([_header_cell(xl, worksheet, title) for title in sheet.header])
        for row in sheet.rows:
            worksheet.append(list(_cells(xl, worksheet, row, sheet.text_columns)))
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


@functools.cache
def _openpyxl() -> types.SimpleNamespace:
    """The parts of openpyxl this module writes with, imported once, when first needed."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils.cell import get_column_letter

    return types.SimpleNamespace(
        Workbook=Workbook,
        WriteOnlyCell=WriteOnlyCell,
        illegal_characters=ILLEGAL_CHARACTERS_RE,
        get_column_letter=get_column_letter,
        header_font=Font(bold=True),
        header_fill=PatternFill("solid", fgColor="E8F1FC"),
    )


def _header_cell(xl, worksheet, title: str):
    cell = _text_cell(xl, worksheet, title)
    cell.font, cell.fill = xl.header_font, xl.header_fill
    return cell


def _cells(xl, worksheet, row: Sequence[object], text_columns: Collection[int]) -> Iterator[object]:
    for column, value in enumerate(row):
        if isinstance(value, str) and value:
            cell = _text_cell(xl, worksheet, value)
            if column in text_columns:
                cell.number_format = TEXT_FORMAT
            yield cell
        else:
            yield value if value != "" else None


def _text_cell(xl, worksheet, value: str):
    text = xl.illegal_characters.sub("", value)[:MAX_CELL_CHARS]
    cell = xl.WriteOnlyCell(worksheet, value=text)
    cell.data_type = "s"  # openpyxl makes "=..." a formula
    if text.startswith(FORMULA_STARTS):
        cell.quotePrefix = True
    return cell
