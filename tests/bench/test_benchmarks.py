"""Every benchmark under bench/ runs at a tiny size, as an operator would run it, so that
none of them rots: its last line is a RESULT line that parses, and nothing it counts as
lost was lost. (The figures themselves are measured at full size: README, Benchmarks.)

They start their own stacks (redis-server, SQLite or a private PostgreSQL, nginx,
uvicorn, an arq worker) and take no test database, so they run once per `make test`, all in
the PostgreSQL pass: they mostly wait on their own clocks, which the PostgreSQL pass, the
shorter of the two that run side by side, has the time for (in the SQLite pass they were
~250 s of its workers' time beside the browser tests).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from app.config import ROOT
from bench import system

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        os.environ.get("SAFECE_TEST_DATABASE") != "postgresql",
        reason="the benchmarks run once, in the PostgreSQL pass",
    ),
]
FIELD = re.compile(r"(\w+)=(\S+)")


def bench(script: str, *args: str, timeout: float = 600) -> dict[str, float]:
    """Run ``bench/<script>`` and return the fields of its RESULT line (the last line)."""
    return bench_results(script, *args, timeout=timeout)[-1]


def bench_results(script: str, *args: str, timeout: float = 600) -> list[dict[str, float]]:
    """Run ``bench/<script>``: the fields of each RESULT line it printed (its last line is
    one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECE_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    assert lines[-1].startswith("RESULT "), done.stdout[-3000:]
    results = []
    for line in lines:
        if line.startswith("RESULT "):
            fields = dict(FIELD.findall(line))
            assert fields, line
            results.append({name: float(value) for name, value in fields.items()})
    return results


TINY_EXAM = ("--clients", "20", "--save-interval", "2", "--duration", "10")


def test_exam_load__with_its_floor():
    """The floor (bench/floor.py's `run`, the whole of that benchmark but its argument
    parsing) first, with its own RESULT line, then the exam and the ratios."""
    floor, result = bench_results("exam_load.py", *TINY_EXAM, "--floor")

    assert floor["acks"] > 0 and floor["lost_acks"] == 0
    assert result["acks"] > 0 and result["lost_acks"] == 0
    for field in ("floor_p99_ms", "floor_cpu_ms_per_ack", "p99_ratio", "cpu_ratio", "rss_ratio"):
        assert result[field] > 0, field


def test_exam_load__two_servers_on_postgresql_through_pgbouncer():
    """The scaled-out shape the README measures, through PgBouncer: the same devtools
    cluster as without it (the cluster tests start both), so one tiny run keeps every
    flag of it from rotting (13 CPU-s each)."""
    result = bench(
        "exam_load.py", *TINY_EXAM, "--servers", "2", "--database", "postgresql",
        "--pooler", "pgbouncer",
    )  # fmt: skip

    assert result["acks"] > 0 and result["lost_acks"] == 0


def test_opening():
    result = bench("opening.py", "--learners", "20", "--duration", "4", "--idle", "1")

    assert result["acks"] > 0 and result["lost_acks"] == 0
    for field in ("cpu_ms_per_connect", "cpu_ms_per_start", "cpu_ms_per_join", "cpu_ms_per_ack"):
        assert result[field] > 0, field


def test_invigilation():
    result = bench("invigilation.py", *TINY_EXAM, "--invigilators", "2")

    assert result["lost_acks"] == 0 and result["lag_p99_ms"] > 0


def test_heartbeats():
    result = bench(
        "heartbeats.py", "--watchers", "20", "--interval", "2", "--duration", "10",
        "--server-workers", "1",
    )  # fmt: skip

    assert result["beats"] > 0 and result["ok"] == result["beats"]


def test_certificates():
    result = bench("certificates.py", "--count", "3")

    assert result["count"] == 3


def test_reports():
    result = bench("reports.py", "--learners", "30", "--courses", "2")

    assert result["learners"] == 30 and result["export_s"] > 0


def test_faults():
    result = bench(
        "faults.py", "--clients", "10", "--learners", "4", "--trials", "2", "--servers", "2",
        "--certificates", "2", "--certificate-job-seconds", "30",
    )  # fmt: skip

    assert result["lost_acks"] == 0
    assert result["lost_credit_s"] == 0 and result["duplicate_submissions"] == 0


def test_a_missing_program__is_named_with_the_command_that_installs_it():
    message = system.missing_message(["nginx", "pg_ctl"])

    assert "make bench-deps" in message and "nginx postgresql" in message
    with pytest.raises(SystemExit, match="make bench-deps"):
        system.require("no-such-program-for-safece")
