"""What the exam benchmarks print besides their RESULT line: where in time the slow
acknowledgements were, the load generators' own stalls, and (with ``--profile``) each
second of the servers' profile (app/lib/profiling.py) beside that second's acks."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

from bench.common import percentile, rss_mb
from bench.exam_clients import Reader


def slow_acks(collected: list[dict], deadline: float, over_ms: float = 100.0) -> str:
    """Where the tail is: acks slower than ``over_ms`` per 10 s of sending, of all acks."""
    windows: dict[int, list[int]] = {}
    for r in collected:
        for ms, sent in zip(r["latencies"], r["sent_at"], strict=True):
            w = windows.setdefault(int((deadline * 1000 - sent) // 10_000), [0, 0])
            w[0] += ms > over_ms
            w[1] += 1
    return ", ".join(
        f"{k * 10}-{k * 10 + 10}: {slow}/{n}"
        for k, (slow, n) in sorted(windows.items(), reverse=True)
    )


def worst_window_share(collected: list[dict], deadline: float, over_ms: float = 100.0) -> float:
    """The largest share (%) of acks over ``over_ms`` in any 10 s window of sending."""
    windows: dict[int, list[int]] = {}
    for r in collected:
        for ms, sent in zip(r["latencies"], r["sent_at"], strict=True):
            w = windows.setdefault(int((deadline * 1000 - sent) // 10_000), [0, 0])
            w[0] += ms > over_ms
            w[1] += 1
    return max((100 * slow / n for slow, n in windows.values() if n >= 100), default=0.0)


def generator_stalls(collected: list[dict], deadline: float) -> str:
    """When the harness itself was late: its delays are not the server's."""
    windows: dict[int, list[float]] = {}
    for r in collected:
        for at, late in r["stalls"]:
            w = windows.setdefault(int((deadline * 1000 - at) // 10_000), [0, 0.0])
            w[0] += 1
            w[1] = max(w[1], late)
    return (
        ", ".join(
            f"{k * 10}-{k * 10 + 10}: {n}, {longest:.0f}"
            for k, (n, longest) in sorted(windows.items(), reverse=True)
        )
        or "none"
    )


def _figures(point: str, figures: dict) -> str:
    tail = f"/{figures['p99']:g}" if "p99" in figures else ""
    return f"{point} {figures['n']}× {figures['p50']:g}/{figures['max']:g}{tail}"


def profile_windows(path: Path, collected: list[dict], since: float, until: float) -> list[str]:
    """One line per second from ``since`` to ``until`` (epoch s): the acks of the saves
    sent in that second (count, p99, max, how many over 100 ms), then each server
    process's profile of the same second (point n× p50/max[/p99] in ms)."""
    acks: dict[int, list[float]] = {}
    for r in collected:
        for ms, sent in zip(r["latencies"], r["sent_at"], strict=True):
            acks.setdefault(int(sent // 1000), []).append(ms)
    servers: dict[int, list[dict]] = {}
    if path.exists():
        for raw in path.read_text().splitlines():
            line = json.loads(raw)
            # A profile line covers the second before it was written.
            servers.setdefault(round(line["t"]) - 1, []).append(line)
    lines = []
    for second in range(int(since), int(until) + 1):
        mine = acks.get(second, [])
        head = f"{time.strftime('%H:%M:%S', time.localtime(second))} acks {len(mine)}" + (
            f" p99 {percentile(mine, 99):.0f} max {max(mine):.0f}"
            f" >100ms {sum(ms > 100 for ms in mine)}"
            if mine
            else ""
        )
        parts = [head]
        for line in servers.get(second, []):
            points = [
                _figures(point, figures)
                for point, figures in line.items()
                if isinstance(figures, dict) and "n" in figures
            ]
            wal_text = f" wal {line['wal_mb']:g}MB" if "wal_mb" in line else ""
            parts.append(f"[{line['pid']} cpu {line['cpu']}% {' '.join(points)}{wal_text}]")
        lines.append(" ".join(parts))
    return lines


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time consumed so far by these processes."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def watch_grading(
    reader: Reader, batch_id: int, deadline: float, stack_pids, samples, at_deadline
) -> float:
    """Poll the database from the deadline until no attempt is open; seconds it took.
    ``at_deadline()`` runs once the deadline has come."""
    while time.time() < deadline:
        samples.append(rss_mb(stack_pids()))
        time.sleep(min(0.5, max(0.0, deadline - time.time())))
    at_deadline()
    while True:
        [(open_count,)] = reader.rows(
            "SELECT count(*) FROM exam_attempts WHERE batch_id = ? AND status = 'open'", batch_id
        )
        [(started,)] = reader.rows(
            "SELECT count(*) FROM exam_attempts WHERE batch_id = ?", batch_id
        )
        if open_count == 0 and started:
            return time.time() - deadline
        if time.time() - deadline > 120:
            return float("inf")
        samples.append(rss_mb(stack_pids()))
        time.sleep(0.02)


def verify(reader: Reader, acks: list) -> tuple[int, int, int]:
    """(lost acks, attempts graded, attempts still open) — from the database."""
    rows = reader.rows("SELECT id, status, graded_answers FROM exam_attempts")
    graded = {aid: json.loads(g) for aid, status, g in rows if status == "closed" and g is not None}
    still_open = sum(1 for _, status, _ in rows if status == "open")
    lost = 0
    for attempt_id, qid, seq, value in acks:
        entry = graded.get(attempt_id, {}).get(str(qid))
        if entry is None or entry[1] < seq or (entry[1] == seq and entry[0] != value):
            lost += 1
    return lost, len(graded), still_open
