"""The command line as `make run` and an operator use it, in real subprocesses."""

import os
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401 - every table
from app.accounts import idcard
from app.db import Base


def run_cli(tmp_path, redis_url, *args):
    env = dict(os.environ, SAFECE_DATA_DIR=str(tmp_path), SAFECE_REDIS_URL=redis_url)
    env.pop("SAFECE_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_cli__upgrade_and_seed_demo_are_idempotent(tmp_path, redis_server):
    url = f"{redis_server}?db=2"
    assert run_cli(tmp_path, url, "db", "upgrade").returncode == 0
    first = run_cli(tmp_path, url, "seed-demo")
    second = run_cli(tmp_path, url, "seed-demo")
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
