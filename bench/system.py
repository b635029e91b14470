"""The system programs the benchmarks run, and what to do when one is missing.

Each benchmark asks for what it starts (``require("redis-server", "nginx")``) before it
starts anything; a missing program stops it with one message naming the command that
installs them all: ``make bench-deps`` (Debian packages, see the Makefile's
``APT_BENCH``).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

INSTALL = "make bench-deps"
# program -> Debian package
PACKAGES = {
    "redis-server": "redis-server",
    "nginx": "nginx",
    "pg_ctl": "postgresql",
    "pgbouncer": "pgbouncer",
}
# Debian installs these outside a user's PATH.
_ELSEWHERE = {
    "nginx": ["/usr/sbin/nginx", "/sbin/nginx"],
    "pgbouncer": ["/usr/sbin/pgbouncer"],
}


def find(program: str) -> str | None:
    """Where a program is, or None."""
    if program == "pg_ctl":
        from devtools.pgcluster import server_bin

        found = server_bin()
        return str(found / "pg_ctl") if found else None
    return shutil.which(program) or next(
        (p for p in _ELSEWHERE.get(program, []) if Path(p).exists()), None
    )


def missing_message(programs: list[str]) -> str:
    """What to tell whoever runs a benchmark without these programs."""
    packages = " ".join(sorted({PACKAGES.get(p, p) for p in programs}))
    return (
        f"缺少 {'、'.join(programs)}：请先运行 {INSTALL}（安装 {packages}）。\n"
        f"Missing {', '.join(programs)}: run `{INSTALL}` first (installs {packages})."
    )


def require(*programs: str) -> dict[str, str]:
    """The path of each program; exits with ``missing_message`` if any is not installed."""
    found = {program: find(program) for program in programs}
    absent = [program for program, path in found.items() if path is None]
    if absent:
        sys.exit(missing_message(absent))
    return found
