"""Page numbers for long lists."""

from __future__ import annotations

import dataclasses
import math
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass
class Page(Generic[T]):
    """One page of a list: its items, where it is, and how many there are in all."""

    number: int
    per_page: int
    total: int
    items: list[T] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, number: int, per_page: int, total: int) -> Page[T]:
        """A page clamped to the existing range (page 1 when the list is empty)."""
        pages = max(1, math.ceil(total / per_page))
        return cls(number=min(max(1, number), pages), per_page=per_page, total=total)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    def window(self, size: int = 7) -> list[int]:
        """The page numbers to show as links around the current one."""
        start = max(1, min(self.number - size // 2, self.pages - size + 1))
        return list(range(start, min(self.pages, start + size - 1) + 1))
