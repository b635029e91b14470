"""Backup and restore (app/core/backup.py, restore.py), on SQLite and on PostgreSQL.

A running stack with an exam in progress is backed up while a learner keeps answering;
the backup is restored into a fresh data directory and database; the app started on it
shows the learners what they had: the study credit, every answer acknowledged before the
backup began, and the certificate (the same PDF)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import itertools
import json
import re
import shutil

import pytest
import redis.asyncio as aioredis
import socketio

from app.certificates import issuing
from app.clock import utcnow
from app.core import backup, restore
from app.core.backup import BackupError
from app.lib import crypto
from tests.certificates.conftest import Certs
from tests.conftest import serving
from tests.exams.conftest import SMALL, Exams, paper_of
from tests.factories import Factory, http_login, login
from workers.certificates import issue_certificate

PASSWORD = "Str0ng-Pass!"
_databases = itertools.count(1)
CREDIT = re.compile(r"已学习时长：(\d+)分钟")


@pytest.fixture
async def fresh(tmp_path, config, db_template, request, redis_server):
    """A configuration with a new data directory, an empty database and its own Redis."""
    if isinstance(db_template, str):
        name = f"safece_restored_{next(_databases)}"
        database_url = request.getfixturevalue("postgres").create_database(name)
    else:
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'safece.db'}"
    cfg = dataclasses.replace(
        config,
        data_dir=tmp_path / "restored",
        database_url=database_url,
        redis_url=f"{redis_server}?db=3",
    )
    r = aioredis.Redis.from_url(cfg.redis_url)
    await r.flushdb()
    await r.aclose()
    return cfg


class Page:
    """An exam page that keeps answering, remembering what was acknowledged and when."""

    def __init__(self, attempt) -> None:
        self.attempt = attempt
        self.sio = socketio.AsyncClient(reconnection=False)
        self.acked: list[tuple[float, int, str, int]] = []  # (loop time, question, value, seq)

    async def open(self, base_url: str, token: str) -> None:
        await self.sio.connect(
            base_url,
            headers={"Cookie": f"safece_session={token}"},
            namespaces=["/exam"],
            transports=["websocket"],
        )
        join = {"attempt_id": self.attempt.id, "tab": "tab-backup-0001"}
        assert (await self.sio.call("join", join, namespace="/exam", timeout=10))["ok"]

    async def keep_answering(self, stop: asyncio.Event) -> None:
        questions = [item.question_id for item in paper_of(self.attempt)]
        loop = asyncio.get_running_loop()
        for seq in itertools.count(1):
            if stop.is_set():
                return
            question, value = questions[seq % len(questions)], "AB"[seq % 2]
            data = {"question_id": question, "value": value, "seq": seq}
            reply = await self.sio.call("answer", data, namespace="/exam", timeout=10)
            if reply.get("ok"):
                self.acked.append((loop.time(), question, value, seq))

    def acknowledged_before(self, moment: float) -> dict[int, tuple[str, int]]:
        """The latest acknowledged answer to each question, of those acknowledged by then."""
        latest: dict[int, tuple[str, int]] = {}
        for at, question, value, seq in self.acked:
            if at <= moment:
                latest[question] = (value, seq)
        return latest


async def courses_credit(client) -> str:
    page = await (await client.get("/courses")).get_data(as_text=True)
    return CREDIT.search(page).group(1)


async def test_backup__taken_during_an_exam_restores_what_the_learners_had(
    live_server, live_svc, fresh, tmp_path
):
    svc = live_svc
    factory = Factory(svc)
    # A learner who passed and holds a certificate (with her ID photo).
    certs = Certs(svc, factory)
    holder, passed = await certs.passed(name="证书持有人")
    await issue_certificate({"svc": svc, "job_try": 1}, passed.id)
    certificate = await certs.certificate(passed.id)
    pdf = (issuing.certificate_dir(svc.config) / certificate.file).read_bytes()
    # A learner who studied, sits the exam now and keeps answering through the backup.
    exams = Exams(svc, factory)
    batch = await exams.batch(policy=SMALL)
    sitter = await exams.eligible(batch, name="考试中的学员")
    attempt = await exams.start(sitter, batch)
    token = await http_login(live_server.base_url, svc.redis, sitter.id_number, PASSWORD)
    page = Page(attempt)
    await page.open(live_server.base_url, token)
    source_client = live_server.quart.test_client()
    await login(source_client, svc, sitter.id_number, PASSWORD)
    credit = await courses_credit(source_client)
    assert int(credit) > 0

    stop = asyncio.Event()
    answering = asyncio.create_task(page.keep_answering(stop))
    while len(page.acked) < 5:
        await asyncio.sleep(0.01)
    target = tmp_path / "backups" / "safece-test"
    began = asyncio.get_running_loop().time()
    manifest = await backup.create(svc.config, target, now=utcnow())
    await asyncio.sleep(0.2)  # answers go on after the backup, and are not in it
    stop.set()
    await answering
    wanted = page.acknowledged_before(began)
    assert wanted and len(page.acked) > sum(1 for at, *_ in page.acked if at <= began)
    await page.sio.disconnect()

    # What the backup holds: checksums of everything, key ids, never a key.
    assert (target / backup.MANIFEST).is_file() and not (target / "data.key").exists()
    keys = crypto.Keys.parse(svc.config.key_file.read_text())
    written = "".join(p.read_text(errors="replace") for p in target.iterdir() if p.is_file())
    for secret in [keys.index, *keys.data.values()]:
        assert base64.b64encode(secret).decode() not in written
    assert manifest["keys"]["data"] == sorted(keys.data)
    names = set(manifest["files"])
    assert f"files/certificates/{certificate.file}" in names
    assert any(name.startswith("files/photos/") for name in names)
    sums = (target / backup.SUMS).read_text().splitlines()
    assert len(sums) == len(names)

    # Without the key file kept apart, nothing is restored.
    with pytest.raises(BackupError, match="密钥"):
        await restore.restore(fresh, target)
    assert not fresh.key_file.exists()
    # The operator puts the key file back, then restores.
    fresh.key_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(svc.config.key_file, fresh.key_file)
    await restore.restore(fresh, target)
    # Restoring again into the same (no longer empty) place is refused.
    with pytest.raises(BackupError, match="不是空的|已有文件"):
        await restore.restore(fresh, target)

    async with serving(fresh) as restored:
        rsvc = restored.quart.extensions["safece"]
        client = restored.quart.test_client()
        # The sitter sees the same credit and every answer acknowledged before the backup.
        await login(client, rsvc, sitter.id_number, PASSWORD)
        assert await courses_credit(client) == credit
        token = await http_login(restored.base_url, rsvc.redis, sitter.id_number, PASSWORD)
        again = socketio.AsyncClient(reconnection=False)
        await again.connect(
            restored.base_url,
            headers={"Cookie": f"safece_session={token}"},
            namespaces=["/exam"],
            transports=["websocket"],
        )
        join = {"attempt_id": attempt.id, "tab": "tab-restored-01"}
        joined = await again.call("join", join, namespace="/exam", timeout=10)
        await again.disconnect()
        assert joined["ok"] and joined["status"] == "open", joined
        seen = {int(q): (a["value"], a["seq"]) for q, a in joined["answers"].items()}
        for question, (value, seq) in wanted.items():
            assert seen[question][1] >= seq, (question, seen[question], (value, seq))
        # The certificate holder downloads the same PDF.
        other = restored.quart.test_client()
        await login(other, rsvc, holder.id_number, PASSWORD)
        listing = await (await other.get("/certificates")).get_data(as_text=True)
        assert certificate.number in listing
        response = await other.get(f"/certificates/{certificate.number}.pdf")
        assert response.status_code == 200
        got = await response.get_data()
        assert hashlib.sha256(got).digest() == hashlib.sha256(pdf).digest()


async def test_backup__a_damaged_backup_is_refused_before_anything_is_written(
    svc, factory, fresh, tmp_path
):
    certs = Certs(svc, factory)
    await certs.learner()  # an ID photo
    target = tmp_path / "backup"
    manifest = await backup.create(svc.config, target, now=utcnow())
    photo = next(name for name in manifest["files"] if name.startswith("files/photos/"))
    (target / photo).write_bytes(b"not the photo")
    fresh.data_dir.mkdir(parents=True)
    shutil.copy(svc.config.key_file, fresh.key_file)
    with pytest.raises(BackupError, match="已损坏"):
        await restore.restore(fresh, target)
    assert not (fresh.data_dir / "photos").exists()


async def test_backup__nightly_ones_reuse_unchanged_files_and_keep_the_last_n(
    svc, factory, tmp_path
):
    from workers.backups import make_backup

    certs = Certs(svc, factory)
    await certs.learner()
    svc.config.backup_dir = str(tmp_path / "nightly")
    svc.config.backup_keep = 2
    made = []
    for _ in range(3):
        made.append(await make_backup({"svc": svc}))
        svc.clock.advance(days=1)
    kept = sorted(p.name for p in svc.config.backups.iterdir())
    assert kept == sorted(p.rsplit("/", 1)[1] for p in made[1:])
    first, second = (svc.config.backups / name for name in kept)
    photo = next(p for p in (first / "files" / "photos").iterdir())
    twin = second / "files" / "photos" / photo.name
    assert photo.stat().st_ino == twin.stat().st_ino  # one copy on disk, linked
    manifest = json.loads((second / backup.MANIFEST).read_text())
    assert manifest["database"] in ("sqlite", "postgresql")
