"""The cluster of `make cluster`, started for the cluster tests (tests/cluster/) twice: the
processes straight on PostgreSQL, and through PgBouncer in transaction mode
(`make cluster POOLER=pgbouncer`)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from app import start_services
from app.config import ROOT, Config
from devtools.processes import free_port

START_TIMEOUT = 180  # a guard on a busy 2-core machine; a quiet one starts in ~20 s


@pytest.fixture(scope="package", params=["", "pgbouncer"], ids=["postgresql", "pgbouncer"])
async def cluster(request):
    """The cluster command as an operator runs it; stopped with SIGINT (Ctrl-C) at the end,
    which must stop every part and exit 0."""
    directory = Path(tempfile.mkdtemp(prefix="safece-cluster-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECE_")}
    # Study beats every 2 s (not 15), so that a session of several beats is quick to play.
    env.update(PORT=str(port), PYTHONPATH=str(ROOT), SAFECE_STUDY_BEAT_SECONDS="2")
    log = directory.parent / f"{directory.name}.log"
    command = [sys.executable, "-m", "devtools", "cluster", "--dir", str(directory), "--no-demo"]
    command += ["--pooler", request.param]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    state_file = directory / "cluster.json"
    svc = state = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not state_file.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the cluster did not start\n" + log.read_text()
            await asyncio.sleep(0.2)
        state = json.loads(state_file.read_text())
        svc = start_services(
            Config(
                data_dir=directory,
                database_url=state["database_url"],
                redis_url=state["redis_url"],
                pgbouncer=bool(state["pgbouncer"]),
                argon2_time_cost=1,
                argon2_memory_kib=1024,
            )
        )
        yield svc, state
    finally:
        if svc is not None:
            await svc.close()
        if state_file.exists():  # the processes now, restarted ones included
            state = json.loads(state_file.read_text())
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        output = log.read_text()
        shutil.rmtree(directory, ignore_errors=True)
        log.unlink(missing_ok=True)
    assert proc.returncode == 0, output
    assert "正在停止" in output
    assert bool(state["pgbouncer"]) == (request.param == "pgbouncer")
    assert ("/pgbouncer&port=" in state["database_url"]) == (request.param == "pgbouncer")
    parts = [*(s["pid"] for s in state["servers"]), *state["workers"], state["nginx"]]
    for pid in [*parts, *([state["pgbouncer"]] if state["pgbouncer"] else [])]:
        assert not _alive(pid), f"process {pid} outlived the cluster"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
