"""`make test`'s runner (devtools/testrun.py): both passes, side by side, each told its
database, the status 0 only when every pass passed."""

from __future__ import annotations

import subprocess
import sys

from app.config import ROOT

ONE_TEST = "tests/core/test_config.py::test_public_url__defaults_to_port_8000"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools.testrun", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_testrun__runs_both_passes_and_names_each_outcome():
    done = run(
        "--workers",
        "sqlite=0",
        "--workers",
        "postgresql=0",
        "--",
        "-p",
        "no:cacheprovider",
        ONE_TEST,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    # A unit test does not differ by database: it runs once, in the PostgreSQL pass (the
    # SQLite pass has every browser test besides).
    assert "== sqlite: 1 skipped in" in done.stdout
    assert "== postgresql: 1 passed in" in done.stdout
    assert "[sqlite] " in done.stdout and "[postgresql] " in done.stdout


def test_testrun__a_pass_run_alone_runs_what_differs_by_nothing():
    done = run("sqlite", "--workers", "sqlite=0", "--", "-p", "no:cacheprovider", ONE_TEST)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "== sqlite: 1 passed in" in done.stdout


def test_testrun__a_pass_that_fails_fails_the_run():
    done = run(
        "sqlite",
        "--workers",
        "sqlite=0",
        "--",
        "-p",
        "no:cacheprovider",
        ONE_TEST,
        "-k",
        "no_such_test",
    )

    assert done.returncode == 1
    assert "== sqlite: " in done.stdout and "exit status 5" in done.stdout


def test_testrun__an_unknown_database_is_refused():
    done = run("mysql")

    assert done.returncode == 2 and "expected sqlite or postgresql" in done.stderr
