"""Reading submitted form fields into typed values, with one Chinese message per field.

A ``Form`` collects every problem instead of stopping at the first, so a page can show
each message next to its field; ``check()`` raises ``Invalid`` when there were any.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from app.clock import SHANGHAI
from app.errors import Invalid

DATETIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


class Form:
    """Typed access to submitted fields; problems are gathered in ``errors``."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        return (self.data.get(name) or "").strip()

    def fail(self, name: str, message: str) -> None:
        """Note a problem with a field (the first one per field is kept)."""
        self.errors.setdefault(name, message)

    def text(self, name: str, label: str, *, max_len: int, required: bool = True) -> str:
        value = " ".join(self.raw(name).split())
        if required and not value:
            self.fail(name, f"请填写{label}")
        elif len(value) > max_len:
            self.fail(name, f"{label}不能超过 {max_len} 个字")
        return value

    def integer(self, name: str, label: str, *, low: int, high: int) -> int:
        value = self.raw(name)
        try:
            number = int(value)
        except ValueError:
            self.fail(name, f"{label}应为整数" if value else f"请填写{label}")
            return low
        if not low <= number <= high:
            self.fail(name, f"{label}应在 {low} 到 {high} 之间")
        return number

    def number(self, name: str, label: str, *, low: float, high: float) -> float:
        value = self.raw(name)
        try:
            number = float(value)
        except ValueError:
            self.fail(name, f"{label}应为数字" if value else f"请填写{label}")
            return low
        if not math.isfinite(number) or not low <= number <= high:
            self.fail(name, f"{label}应在 {low:g} 到 {high:g} 之间")
        return number

    def flag(self, name: str) -> bool:
        return self.raw(name) in ("1", "on", "true", "yes")

    def choice(self, name: str, label: str, choices: Mapping[str, str] | set[str]) -> str:
        value = self.raw(name)
        if value not in choices:
            self.fail(name, f"请选择{label}")
        return value

    def when(self, name: str, label: str, *, required: bool = True) -> dt.datetime | None:
        """A date and time typed in Asia/Shanghai (datetime-local), as aware UTC."""
        value = self.raw(name)
        if not value:
            if required:
                self.fail(name, f"请填写{label}")
            return None
        for fmt in DATETIME_FORMATS:
            try:
                local = dt.datetime.strptime(value, fmt)
            except ValueError:
                continue
            if not 2000 <= local.year <= 2100:
                break
            return local.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)
        self.fail(name, f"{label}格式不正确，应为“年-月-日 时:分”")
        return None

    def check(self) -> None:
        if self.errors:
            raise Invalid(dict(self.errors))


def local_input(value: dt.datetime | None) -> str:
    """An instant as the value of a datetime-local input (Asia/Shanghai)."""
    if value is None:
        return ""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
