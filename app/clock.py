"""The one source of time. Tests swap in a FrozenClock and drive it instead of sleeping."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    """Return the real current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class SystemClock:
    """Reads the machine's clock."""

    def now(self) -> dt.datetime:
        return utcnow()


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or utcnow()

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        self._now += dt.timedelta(**delta)
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = when


def as_utc(value: dt.datetime) -> dt.datetime:
    """Treat naive datetimes (as SQLite returns them) as UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def local_date(value: dt.datetime) -> dt.date:
    """The calendar date in Asia/Shanghai of an instant."""
    return as_utc(value).astimezone(SHANGHAI).date()


def shanghai_text(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M", empty: str = "—") -> str:
    """An instant as Asia/Shanghai wall-clock text (``empty`` when there is none)."""
    return as_utc(value).astimezone(SHANGHAI).strftime(fmt) if value else empty


def epoch_ms(value: dt.datetime) -> int:
    """An instant as milliseconds since the epoch, as pages and sockets exchange it."""
    return int(value.timestamp() * 1000)


def duration_text(ms: int) -> str:
    """A duration as mm:ss (h:mm:ss from an hour on)."""
    seconds = round(ms / 1000)
    hours, rest = divmod(seconds, 3600)
    if hours:
        return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{rest // 60:02d}:{rest % 60:02d}"
