"""`make test`: the whole suite on SQLite and on PostgreSQL, both passes at once.

    python -m devtools.testrun [--workers sqlite=2] [--workers postgresql=2] [DB ...] [-- PYTEST_ARGS]

Each pass is one pytest run over its own xdist workers (each worker with its own
redis-server, database copies or PostgreSQL cluster, and ports), so the passes share
nothing. They run side by side because neither keeps two cores busy on its own: the
browser tests wait on real time (a video plays as long as it plays) and the benchmarks on
their clocks, while the PostgreSQL pass is busy throughout. Every line a pass prints is
shown as it comes, after the pass's name; the summary lines of both come last. The exit
status is 0 only when every pass passed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time

DATABASES = ("sqlite", "postgresql")
SUMMARY = re.compile(r"=* ?(\d+ \w.* in [\d.]+s(?: \([\d:]+\))?) ?=*")
# Workers per pass on a 2-core machine (TEST_WORKERS in the Makefile overrides both): with
# 3 on SQLite the run took 768 s and 1,504 CPU-s, with 2 707 s and 1,295 (less contention).
WORKERS = {"sqlite": "2", "postgresql": "2"}


def _pump(name: str, stream, lines: list[str], lock: threading.Lock) -> None:
    for line in stream:
        lines.append(line)
        with lock:
            sys.stdout.write(f"[{name}] {line}")
            sys.stdout.flush()


def _summary(lines: list[str]) -> str:
    """pytest's last line: '== 1201 passed, 12 skipped in 675.68s (0:11:15) =='."""
    for line in reversed(lines):
        found = SUMMARY.fullmatch(line.strip())
        if found:
            return found.group(1)
    return "(no summary: pytest stopped early)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(prog="python -m devtools.testrun")
    parser.add_argument("databases", nargs="*", help="sqlite, postgresql (default: both)")
    parser.add_argument(
        "--workers",
        action="append",
        default=[],
        metavar="DB=N",
        help="xdist workers of a pass (N: a number, auto, or 0 for one process)",
    )
    args = parser.parse_args(argv)
    for name in args.databases:
        if name not in DATABASES:
            parser.error(f"{name}: expected sqlite or postgresql")
    workers = dict(WORKERS)
    for item in args.workers:
        name, _, count = item.partition("=")
        if name not in DATABASES or not count:
            parser.error(f"--workers {item}: expected sqlite=N or postgresql=N")
        workers[name] = count

    lock = threading.Lock()
    passes = []
    began = time.monotonic()
    names = list(dict.fromkeys(args.databases or DATABASES))
    for name in names:
        command = [sys.executable, "-m", "pytest", "-n", workers[name], "--dist", "worksteal"]
        command += ["--durations=10", "--color=no", *extra]
        print(f"== tests on {name}: {' '.join(command[1:])}", flush=True)
        # Which passes run decides where a test that never opens the test database runs
        # (tests/conftest.py): once, in the PostgreSQL pass when both run.
        env = dict(os.environ, SAFECE_TEST_DATABASE=name, SAFECE_TEST_PASSES=",".join(names))
        # Where PYTHONDONTWRITEBYTECODE is set (this machine sets it), no process of the run
        # could keep what it compiled: every xdist worker rewrote and compiled every test
        # module again (collection 8.2 CPU-s instead of 3.5) and each of the ~100 servers,
        # workers and commands the tests start compiled our code from source. The suite
        # writes its .pyc files (git ignores them; Python writes each atomically).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C here stops each pass as a whole, once
        )
        lines: list[str] = []
        pump = threading.Thread(target=_pump, args=(name, proc.stdout, lines, lock), daemon=True)
        pump.start()
        passes.append((name, proc, pump, lines))
    try:
        codes = [proc.wait() for _, proc, _, _ in passes]
    except KeyboardInterrupt:
        for _, proc, _, _ in passes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        codes = [proc.wait() for _, proc, _, _ in passes]
    for _, _, pump, _ in passes:
        pump.join(timeout=10)
    print(f"\n== both passes in {time.monotonic() - began:.0f} s", flush=True)
    for (name, _, _, lines), code in zip(passes, codes, strict=True):
        print(f"== {name}: {_summary(lines)}{'' if code == 0 else f' (exit status {code})'}")
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main())
