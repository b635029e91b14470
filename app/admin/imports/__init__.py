"""Learner import from Excel: ID number, name, gender, work unit and batch per row.

``read_sheet`` reads a file with the shared spreadsheet reader (format, size and shape are
checked before any row is parsed) and finds the header by column names, in any order.
``check`` then checks every row against the rest of the file and the database, looked up
in bulk, without writing. ``write_chunk`` stores the next valid rows in the write session
it is given, one savepoint per row, so each row is imported completely or not at all; the
caller (the worker job, or the CLI through it) opens one write transaction per chunk.
Refused rows are reported with their row number (as Excel shows it) and a Chinese reason.
Importing the same file twice is harmless: rows already enrolled are counted.

Services here never open a session: the route checks a file in its own read session and
queues it (``queue``); the job in workers/imports.py writes it and reports progress.
"""

from app.admin.imports.planning import NUMERIC_ID, PlannedRow, Prepared, check, plan
from app.admin.imports.reading import (
    ALIASES,
    FIELDS,
    HEADERS,
    LIMITS,
    MAX_BYTES,
    MAX_ROWS,
    SheetRow,
    read_sheet,
)
from app.admin.imports.report import ImportReport, RowError
from app.admin.imports.status import (
    FAILED,
    INTERRUPTED,
    load_status,
    queue,
    save_status,
    upload_path,
)
from app.admin.imports.workbooks import error_workbook, template_workbook
from app.admin.imports.writing import CHUNK_ROWS, CHUNK_SECONDS, import_row, write_chunk

__all__ = [
    "ALIASES",
    "CHUNK_ROWS",
    "CHUNK_SECONDS",
    "FAILED",
    "FIELDS",
    "HEADERS",
    "INTERRUPTED",
    "LIMITS",
    "MAX_BYTES",
    "MAX_ROWS",
    "NUMERIC_ID",
    "ImportReport",
    "PlannedRow",
    "Prepared",
    "RowError",
    "SheetRow",
    "check",
    "error_workbook",
    "import_row",
    "load_status",
    "plan",
    "queue",
    "read_sheet",
    "save_status",
    "template_workbook",
    "upload_path",
    "write_chunk",
]
