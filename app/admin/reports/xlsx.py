"""The one place reports become Excel files: streamed with openpyxl's write-only mode, so
ten thousand rows never sit in memory as cells.

Spreadsheet programs run a cell that starts with = + - @ (or a tab or carriage return
before one) as a formula; data people typed (names, work units) is therefore always
written as text, never as a formula.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="E8F1FC")


@dataclasses.dataclass
class Sheet:
    """One worksheet: its title, header, column widths and rows (any iterable)."""

    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]
    widths: Sequence[int] = ()


def _cell(sheet, value: object) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"  # text, not a formula
    return cell


def write_xlsx(
    dest: Path, sheets: Iterable[Sheet], *, progress: Callable[[int], None] | None = None
) -> int:
    """Write the sheets to ``dest``; calls ``progress(rows so far)`` every 1,000 rows."""
    book = Workbook(write_only=True)
    written = 0
    for spec in sheets:
        sheet = book.create_sheet(spec.title[:31])
        for index, width in enumerate(spec.widths):
            sheet.column_dimensions[chr(ord("A") + index)].width = width
        sheet.freeze_panes = "A2"
        header = []
        for title in spec.header:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font, cell.fill = HEADER_FONT, HEADER_FILL
            header.append(cell)
        sheet.append(header)
        for row in spec.rows:
            sheet.append([_cell(sheet, value) for value in row])
            written += 1
            if progress is not None and written % 1000 == 0:
                progress(written)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    book.save(partial)
    partial.replace(dest)
    return written
