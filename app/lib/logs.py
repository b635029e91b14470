"""The log of every process: readable text by default, one JSON object a line with
``SAFECE_LOG_FORMAT=json`` (for a log collector).

Each JSON line carries ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
``process`` (server, worker or cli), its ``pid`` and ``host``, and what the line happened
in: an HTTP request (``request_id``, ``route`` such as ``POST /login``) or a Socket.IO
event (``event`` such as ``/exam answer``, ``sid``), with the signed-in ``user_id`` (the
account's number in the database). Never an ID number or a password: no code logs a
password, and anything shaped like an ID number in a message is masked in both formats
(``Redact``), whatever logged it.

The context is one ``ContextVar`` holding a small dict per request or event (``bind``),
set where the request or event begins (``app/web.py``, ``realtime/auth.py``).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import re
import socket

CONTEXT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("safece_log", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# An 18-character ID number (6-digit region, birth date, 3 digits, check digit or X),
# alone or inside a longer word-free run: masked wherever it appears in a message.
ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"\d{3}[\dXx](?![0-9A-Za-z])"
)
MASK = "[身份证号]"
FIELDS = ("request_id", "route", "event", "sid", "user_id")


def bind(**fields: object) -> dict:
    """Start the log context of a request or an event; returns it, for adding to later
    (``user_id`` once the session is known)."""
    context = dict(fields)
    CONTEXT.set(context)
    return context


def bind_user(user_id: int | None) -> None:
    """The signed-in user of the current request or event, once known."""
    context = CONTEXT.get()
    if context is not None:
        context["user_id"] = user_id


def redact(text: str) -> str:
    """``text`` with anything shaped like an ID number masked."""
    return ID_NUMBER.sub(MASK, text)


class Redact(logging.Filter):
    """Masks ID numbers in the finished message of every record a handler writes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process
        self.host = socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "process": self.process,
            "pid": record.process or os.getpid(),
            "host": self.host,
        }
        context = CONTEXT.get()
        if context:
            line.update((k, context[k]) for k in FIELDS if context.get(k) is not None)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def handler(log_format: str, process: str) -> logging.Handler:
    """A stderr handler writing the given format, ID numbers masked."""
    out = logging.StreamHandler()
    out.addFilter(Redact())
    if log_format == "json":
        out.setFormatter(JsonFormatter(process))
    else:
        out.setFormatter(logging.Formatter(TEXT_FORMAT))
    return out


def configure(log_format: str, process: str, level: int = logging.INFO) -> None:
    """Send this process's log to stderr in the configured format. Like
    ``logging.basicConfig``, it leaves a root logger that already has handlers of someone
    else alone (a test runner's); a second call replaces what the first installed."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "safece", False)]
    if len(ours) < len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    new = handler(log_format, process)
    new.safece = True
    root.addHandler(new)
    root.setLevel(level)
