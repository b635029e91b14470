"""Audit actions are one vocabulary: each area declares its codes with their Chinese labels
in its ``audit_actions`` module, ``app.load_areas`` declares them in every process, and the
操作日志 export written by a real ``python -m app worker`` process shows no raw code."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook

from app import load_areas
from app.audit import service as audit
from app.audit.models import AuditEntry
from tests.admin.helpers import plain, post, text

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"^[a-z_]+\.[a-z_]+$")


def _codes_in_source() -> set[str]:
    """Every action code the product writes: the dotted literals on lines that set an
    action, and the review's ``registration.{stage}_{outcome}``."""
    found = set()
    for path in (ROOT / "app").rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "action" in line and "audit_actions" not in str(path):
                found |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', line))
    return found | {
        "registration.first_approve",
        "registration.first_return",
        "registration.final_approve",
        "registration.final_reject",
    }


def test_every_action_written_is_declared_with_a_chinese_label():
    load_areas()  # what every process (web, worker, CLI) does as it starts
    codes = _codes_in_source()
    assert len(codes) > 40
    assert codes - set(audit.ACTION_LABELS) == set()
    for code, label in audit.ACTION_LABELS.items():
        assert CODE.match(code) and label and not label.isascii(), code


def test_declare__the_same_label_again_is_fine_a_different_one_is_refused():
    load_areas()
    audit.declare({"learner.roles": "修改角色"})
    with pytest.raises(ValueError):
        audit.declare({"learner.roles": "别的说法"})


async def test_record__an_undeclared_action_is_refused_and_writes_nothing(svc):
    with pytest.raises(ValueError):
        async with svc.db.write() as db:
            await audit.record(session=db, now=svc.now(), actor_id=None, action="made.up")
    async with svc.db.read() as db:
        assert (await audit.get_all(session=db)).total == 0


async def test_export__a_worker_process_labels_every_action(admin_client, svc, admin, config):
    async with svc.db.write() as db:
        for code in audit.ACTION_LABELS:
            await audit.record(
                session=db, now=svc.now(), actor_id=admin.id, action=code, detail=code
            )
        # An entry written by an older version under a code nobody declares any more.
        db.add(AuditEntry(at=svc.now(), actor_id=None, action="legacy.thing", detail=""))
    response = await post(admin_client, "/admin/audit/export")
    assert response.status_code == 302
    status_url = response.headers["Location"]
    env = dict(
        os.environ,
        SAFECE_DATA_DIR=str(config.data_dir),
        SAFECE_DATABASE_URL=config.database_url,
        SAFECE_REDIS_URL=config.redis_url,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(90):
            while True:
                page = await text(await admin_client.get(status_url))
                if 'data-state="done"' in page or 'data-state="failed"' in page:
                    break
                assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
                await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert 'data-state="done"' in page, plain(page)[-600:]
    download = await admin_client.get(status_url + "/download")
    rows = list(
        load_workbook(BytesIO(await download.get_data())).active.iter_rows(values_only=True)
    )
    shown = {row[1] for row in rows[1:]}
    assert shown == set(audit.ACTION_LABELS.values()) | {"legacy.thing"}
    assert not [label for label in shown - {"legacy.thing"} if CODE.match(label)]
