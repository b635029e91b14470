"""The opt-in per-second profile (app/lib/profiling.py): its probes and its windows."""

from __future__ import annotations

import asyncio
import gc
import json
import time

from app.lib import profiling


def _hearing() -> tuple[list[tuple[str, float]], object]:
    heard: list[tuple[str, float]] = []
    return heard, profiling.listen(lambda point, value: heard.append((point, value)))


def test_observe__reaches_listeners_only_while_they_listen():
    heard, stop = _hearing()
    profiling.observe("commit.hold", 2.5)
    stop()
    profiling.observe("commit.hold", 9.0)

    assert heard == [("commit.hold", 2.5)]
    assert not profiling.listening()


async def test_loop_lag__a_blocked_loop_shows_as_one_late_timer():
    heard, stop = _hearing()
    lag = profiling.LoopLag(every=0.005)
    lag.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # a callback that holds the loop (a collection, a slow statement)
        await asyncio.sleep(0.05)
    finally:
        await lag.stop()
        stop()

    lags = [value for point, value in heard if point == "loop.lag"]
    assert max(lags) >= 150
    assert sorted(lags)[len(lags) // 2] < 100


def test_gc_pauses__each_collection_is_observed_by_generation():
    heard, stop = _hearing()
    pauses = profiling.GcPauses()
    pauses.start()
    try:
        gc.collect()
    finally:
        pauses.stop()
        stop()

    assert [point for point, _ in heard] == ["gc.2"]


def test_window__summarises_each_point_and_starts_afresh():
    profile = profiling.Profile("1")
    for ms in range(1, 201):
        profile._hear("commit.hold", float(ms))
    profile._hear("gc.0", 30.0)

    line = profile.take(cpu_s=0.5, wall_s=1.0)
    again = profile.take(cpu_s=0.0, wall_s=1.0)

    assert line["cpu"] == 50
    assert line["commit.hold"] == {"n": 200, "p50": 101.0, "max": 200.0, "p99": 199.0}
    assert line["gc.0"] == {"n": 1, "p50": 30.0, "max": 30.0}
    assert "commit.hold" not in again
    assert "commit.hold 200× p50 101.0 max 200.0 p99 199.0" in profiling.text(line)


async def test_profile__writes_a_json_line_a_second(tmp_path):
    target = tmp_path / "profile.jsonl"
    profile = profiling.Profile(str(target), database=str(tmp_path / "none.db"))
    profile.start()
    try:
        for _ in range(300):
            if target.exists() and target.read_text().count("\n") >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await profile.stop()

    first, second = (json.loads(raw) for raw in target.read_text().splitlines()[:2])
    assert abs(second["t"] - first["t"] - 1) < 0.3  # aligned on whole seconds
    assert second["loop.lag"]["n"] >= 1
    assert first["wal_mb"] == second["wal_mb"] == 0.0
