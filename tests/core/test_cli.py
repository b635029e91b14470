"""The command line as `make run` and an operator use it, in real subprocesses."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401 - every table
from app.accounts import idcard
from app.db import Base


def run_cli(tmp_path, redis_url, *args, package="app"):
    env = dict(os.environ, SAFECE_DATA_DIR=str(tmp_path), SAFECE_REDIS_URL=redis_url)
    env.pop("SAFECE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", package, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli__upgrade_and_seed_demo_are_idempotent(tmp_path, redis_server):
    url = f"{redis_server}?db=2"
    assert run_cli(tmp_path, url, "db", "upgrade").returncode == 0
    first = run_cli(tmp_path, url, "seed-demo", package="devtools")
    second = run_cli(tmp_path, url, "seed-demo", package="devtools")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout
    for role in ("学员", "监考员", "管理员"):
        assert role in first.stdout
    learner_line = next(
        line for line in first.stdout.splitlines() if "学员" in line and "用户名" in line
    )
    id_number = learner_line.split("用户名")[1].split()[0]
    assert idcard.parse(id_number).value == id_number
    assert f"密码 {id_number[-6:]}" in learner_line


def test_cli__create_user_refuses_a_bad_id_number(tmp_path, redis_server):
    url = f"{redis_server}?db=2"
    run_cli(tmp_path, url, "db", "upgrade")
    result = run_cli(tmp_path, url, "create-user", "120102199003074513", "王五")
    assert result.returncode == 1
    assert "校验位不正确" in result.stderr
    good = idcard.make("12010219900307461")
    result = run_cli(tmp_path, url, "create-user", good, "王五", "--role", "invigilator")
    assert result.returncode == 0 and "已创建账号" in result.stdout


async def test_migrations__match_the_models(db_template):
    url = db_template if isinstance(db_template, str) else f"sqlite+aiosqlite:///{db_template}"
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    await engine.dispose()
    assert diff == []


def test_run__ctrl_c_stops_everything_cleanly(tmp_path):
    """`make run`, then Ctrl-C: the server and the worker stop before Redis, no traceback."""
    port = _free_port()
    env = dict(os.environ, SAFECE_DATA_DIR=str(tmp_path / "var"), PORT=str(port))
    for name in ("SAFECE_REDIS_URL", "SAFECE_DATABASE_URL", "SAFECE_PUBLIC_URL"):
        env.pop(name, None)
    log = tmp_path / "run.log"
    with log.open("w") as out:
        # In a session of its own, as a terminal runs a command in the foreground.
        proc = subprocess.Popen(
            [sys.executable, "-m", "devtools", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", log)
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    output = log.read_text()
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    assert "正在停止" in output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(proc, url: str, log) -> None:
    """Wait until the server answers /healthz with everything up (the demo seeds first)."""
    deadline = time.monotonic() + 180  # a guard; seeding the demo takes a while
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError("the server never answered /healthz\n" + log.read_text())
