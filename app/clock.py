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
