"""Request parsing shared by the routes of every area: JSON bodies, body size limits,
redirect targets."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from urllib.parse import urlsplit

from quart import request
from quart.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from app.errors import AppError

# Every id column is a 32-bit integer (PostgreSQL INTEGER); nothing larger names anything.
MAX_ID = 2**31 - 1
# A JSON integer longer than this is read as an infinite float, which every number check
# refuses: parsing it would cost time (CPython limits int() to 4,300 digits for that reason)
# and no value we accept comes near it.
MAX_INT_DIGITS = 30


def parse_json_int(text: str) -> int | float:
    """``parse_int`` for json.loads: absurdly long integers become +/-inf, refused later."""
    if len(text) > MAX_INT_DIGITS:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def loads(text: str | bytes, **kwargs: object) -> object:
    """json.loads that reads absurd integers as +/-inf (HTTP bodies and Socket.IO packets)."""
    kwargs.setdefault("parse_int", parse_json_int)
    return json.loads(text, **kwargs)


class JSONProvider(DefaultJSONProvider):
    """The app's JSON: request bodies are read with ``loads`` above."""

    def loads(self, s: str | bytes, **kwargs: object) -> object:
        return loads(s, **kwargs)


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: a number beyond any id is no page (404), not a database
    overflow (``/exams/attempts/<25 digits>``)."""

    def __init__(self, url_map, fixed_digits: int = 0, min: int | None = None, max: int = MAX_ID):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max)


def is_int(value: object, low: int = -MAX_ID, high: int = MAX_ID) -> bool:
    """Whether a decoded JSON value (an HTTP body or a Socket.IO payload) is a whole number
    from ``low`` to ``high``. JSON's ``true`` and ``false`` decode as Python's True and
    False, which ``isinstance(value, int)`` accepts as 1 and 0: they are never numbers here
    (a ``"size": true`` once reached Redis as a boolean and answered 500)."""
    return type(value) is int and low <= value <= high


def is_number(value: object) -> bool:
    """Whether a decoded JSON value is a number (whole or not; never a boolean)."""
    return type(value) is int or type(value) is float


def is_id(value: object) -> bool:
    """Whether a decoded JSON value can be an id: a whole number from 1 to MAX_ID."""
    return is_int(value, 1, MAX_ID)


def int_field(data: dict, name: str, message: str, *, low: int = 1, high: int = MAX_ID) -> int:
    """A whole-number field of a JSON body or Socket.IO payload, else ``bad_request`` with
    ``message`` (a Chinese sentence)."""
    value = data.get(name)
    if not is_int(value, low, high):
        raise AppError("bad_request", message)
    return value


def arg_int(name: str, default: int | None = None) -> int | None:
    """A whole-number query argument from 0 to MAX_ID (page numbers, filters), else default."""
    raw = request.args.get(name, "")
    if not raw.isdigit() or len(raw) > 10 or int(raw) > MAX_ID:
        return default
    return int(raw)


async def json_body() -> dict:
    """The request's JSON object, or a Chinese refusal when it is anything else."""
    body = await request.get_json(silent=True)
    if not isinstance(body, dict):
        raise AppError("bad_request", "请求格式不正确")
    return body


def text_field(body: dict, name: str, max_length: int = 200) -> str:
    """A text field of a JSON body ("" when absent); any other type is refused."""
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > max_length:
        raise AppError("bad_request", "请求格式不正确")
    return value


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path of this site (to redirect to after logging in), else None.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so "/", a
    tab, "/evil.example" (or "/", a backslash, "evil.example") would lead off the site as
    "//evil.example": any whitespace, control character or backslash refuses the target."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if target.startswith("//") or parts.scheme or parts.netloc:
        return None
    return target


# What a route accepts unless it says otherwise (``body_limit``): forms are a few fields,
# JSON requests a few small values. Refused with 413 before any of the body is read.
FORM_LIMIT = 16 * 1024
JSON_LIMIT = 64 * 1024


def body_limit(max_bytes: int, message: str | None = None) -> Callable:
    """Let a route accept a request body of up to ``max_bytes`` (uploads), refused beyond
    with 413 and ``message`` (a Chinese sentence; ``{size}`` and ``{limit}`` are filled in)
    before the body is read:

        @bp.post("/api/profile/photo")
        @auth.login_required
        @body_limit(600 * 1024, "照片约 {size}，须小于 500 KB")
        async def photo_upload(): ...
    """

    def mark(view: Callable) -> Callable:
        view.body_limit = max_bytes
        view.body_limit_message = message
        return view

    return mark


def limit_of(view: Callable | None, mimetype: str) -> tuple[int, str | None]:
    """The body limit of a route (its own, or the default for the kind of body)."""
    if view is not None and getattr(view, "body_limit", None):
        return view.body_limit, view.body_limit_message
    return (JSON_LIMIT if mimetype == "application/json" else FORM_LIMIT), None


def size_text(n: int) -> str:
    """1536 -> "1.5 KB", 5 * 2**20 -> "5 MB"."""
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:g} MB"
    return f"{n / 1024:g} KB"
