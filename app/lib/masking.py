"""Showing enough of a person's data to recognise, not to identify."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """张三全 -> 张*全, 张三 -> 张*, 欧阳小明 -> 欧**明: enough to recognise, not to identify."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
