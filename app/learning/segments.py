"""Watched segments of a video: sorted, disjoint [start_ms, end_ms] pairs.

Progress is the union of what was watched, so watching a part again adds nothing.
"""

from __future__ import annotations

import json

Segments = list[list[int]]


def parse(text: str | None) -> Segments:
    """Read the stored JSON form."""
    return [[int(a), int(b)] for a, b in json.loads(text or "[]")]


def dump(segments: Segments) -> str:
    """The stored JSON form (compact)."""
    return json.dumps(segments, separators=(",", ":"))


def covered_ms(segments: Segments) -> int:
    """Total watched length."""
    return sum(end - start for start, end in segments)


def add(segments: Segments, start: int, end: int) -> tuple[Segments, int]:
    """Merge [start, end) in; return the new segments and how much of it was new."""
    if end <= start:
        return segments, 0
    merged: Segments = []
    new_start, new_end = start, end
    overlap = 0
    placed = False
    for seg_start, seg_end in segments:
        if seg_end < new_start:
            merged.append([seg_start, seg_end])
        elif seg_start > new_end:
            if not placed:
                merged.append([new_start, new_end])
                placed = True
            merged.append([seg_start, seg_end])
        else:
            # Touching or overlapping: count the overlap with the original span only.
            overlap += max(0, min(seg_end, end) - max(seg_start, start))
            new_start, new_end = min(seg_start, new_start), max(seg_end, new_end)
    if not placed:
        merged.append([new_start, new_end])
        merged.sort()
    return merged, (end - start) - overlap


def complete_slack_ms(duration_ms: int) -> int:
    """Unwatched time still accepted as complete: network jitter leaves gaps of a few
    milliseconds per beat, so 1% of the video (at least 2 s, at most 15 s) may be missing."""
    return min(max(2000, duration_ms // 100), 15000)


def is_complete(watched_ms: int, duration_ms: int) -> bool:
    """Whether a video counts as fully watched."""
    return duration_ms - watched_ms <= complete_slack_ms(duration_ms)


def percent(watched_ms: int, duration_ms: int) -> int:
    """Whole percent watched; 100 only when complete."""
    if duration_ms <= 0 or is_complete(watched_ms, duration_ms):
        return 100
    return min(99, watched_ms * 100 // duration_ms)
