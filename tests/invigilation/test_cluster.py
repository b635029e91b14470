"""Two real server processes on one Redis and one database: the learner's exam page is held
by one, the invigilator's dashboard by the other, and every update and every action
crosses between them (Socket.IO's Redis manager, the dirty sets and the session lease)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest

from app import start_services
from app.config import ROOT, Config
from tests.factories import CSRF, Factory, http_login
from tests.invigilation.conftest import PASSWORD, Proctoring
from tests.invigilation.test_realtime import Client

TAB = "tab-cluster1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(config: Config) -> tuple[subprocess.Popen, str]:
    """``uvicorn --factory app.asgi:serve`` on a free port, as a deployment runs it."""
    port = _free_port()
    env = dict(
        os.environ,
        SAFECE_DATA_DIR=str(config.data_dir),
        SAFECE_DATABASE_URL=config.database_url,
        SAFECE_REDIS_URL=config.redis_url,
        SAFECE_STUDY_FLUSHER="0",
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.asgi:serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def _healthy(proc: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url + "/healthz", timeout=2):
            return
        if proc.poll() is not None:
            raise RuntimeError("server exited during start-up")
        time.sleep(0.2)
    raise RuntimeError("server did not start")


@pytest.fixture
async def cluster(config):
    """Servers A and B, and a Services container on the real clock to make the data."""
    real = Config(
        data_dir=config.data_dir,
        database_url=config.database_url,
        redis_url=config.redis_url,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
    )
    svc = start_services(real)
    servers = [_serve(real), _serve(real)]
    try:
        for proc, url in servers:
            await asyncio.to_thread(_healthy, proc, url)
        yield svc, [url for _, url in servers]
    finally:
        for proc, _ in servers:
            proc.terminate()
        for proc, _ in servers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await svc.close()


async def _connect(url: str, namespace: str, cookie: str, auth=None) -> Client:
    client = Client(namespace)
    await client.connect(
        url,
        headers={"Cookie": f"safece_session={cookie}"},
        namespaces=[namespace],
        transports=["websocket"],
        auth=auth,
        wait_timeout=10,
    )
    return client


class Invigilator:
    """The invigilator's browser on server B: the HTTP actions with the session's CSRF token."""

    def __init__(self, url: str, cookie: str, session_id: int) -> None:
        self.http = aiohttp.ClientSession(
            url, headers={"Cookie": f"safece_session={cookie}", "Accept": "application/json"}
        )
        self.session_id = session_id
        self.csrf = ""

    async def act(self, path: str, body: dict) -> dict:
        if not self.csrf:
            async with self.http.get(f"/invigilate/{self.session_id}") as response:
                self.csrf = CSRF.search(await response.text()).group(1)
        async with self.http.post(
            f"/api/invigilate/{self.session_id}/{path}",
            json=body,
            headers={"X-CSRF-Token": self.csrf},
        ) as response:
            data = await response.json()
            assert response.status == 200, data
            return data


async def test_cluster__learner_on_one_server_invigilator_on_the_other(cluster):
    svc, (server_a, server_b) = cluster
    proctoring = Proctoring(svc, Factory(svc))
    sitting = await proctoring.sitting(2)
    sid = sitting.exam_session.id
    invigilator = await proctoring.invigilator(sitting.exam_session)
    first, second = sitting.learners

    # The invigilator watches on server B.
    staff_cookie = await http_login(server_b, svc.redis, invigilator.id_number, PASSWORD)
    dashboard = await _connect(server_b, "/proctor", staff_cookie, auth={"session_id": sid})
    snap = await dashboard.ask("snapshot")
    assert snap["ok"] and {r["state"] for r in snap["rows"]} == {"waiting"}
    staff = Invigilator(server_b, staff_cookie, sid)

    # The learner sits on server A; each happening reaches B.
    attempt = await proctoring.start(first, sitting.batch)
    page = await _connect(
        server_a, "/exam", await http_login(server_a, svc.redis, first.id_number, PASSWORD)
    )
    joined = await page.ask("join", {"attempt_id": attempt.id, "tab": TAB})
    assert joined["ok"]
    await dashboard.wait_row(first.id, lambda r: r["state"] == "online", timeout=10)
    qid = next(iter(await proctoring.key(attempt)))
    assert (await page.ask("answer", {"question_id": qid, "value": "A", "seq": 1}))["ok"]
    await dashboard.wait_row(first.id, lambda r: r["answered"] == 1, timeout=10)
    assert (await page.ask("focus", {"state": "hidden"}))["ok"]
    await dashboard.wait_row(first.id, lambda r: r["focus"] == 1, timeout=10)

    try:
        # Each action from B reaches the page on A, and its effect comes back to B.
        sent = await staff.act("messages", {"user_id": first.id, "text": "请坐正"})
        banner = await page.wait_event("message", timeout=10)
        assert banner["id"] == sent["message_id"] and banner["text"] == "请坐正"
        read = await page.ask("message_read", {"message_id": sent["message_id"]})
        assert read["ok"]
        await dashboard.wait_row(
            first.id, lambda r: str(sent["message_id"]) in r["reads"], timeout=10
        )

        extended = await staff.act(
            "extend", {"attempt_id": attempt.id, "minutes": 10, "reason": "网络故障"}
        )
        assert extended["notice"] == "已延长 10 分钟"
        moved = await page.wait_event("deadline", timeout=10)
        assert moved["deadline"] == joined["deadline"] + 600_000
        await dashboard.wait_row(first.id, lambda r: r["deadline"] == moved["deadline"], timeout=10)

        await staff.act("force-submit", {"attempt_id": attempt.id, "reason": "违纪"})
        submitted = await page.wait_event("submitted", timeout=10)
        assert submitted["ended_label"] == "监考强制交卷"
        await dashboard.wait_row(first.id, lambda r: r["state"] == "forced", timeout=10)

        # A second learner on A leaves (offline on B), then is voided from B.
        other_attempt = await proctoring.start(second, sitting.batch)
        other = await _connect(
            server_a, "/exam", await http_login(server_a, svc.redis, second.id_number, PASSWORD)
        )
        assert (await other.ask("join", {"attempt_id": other_attempt.id, "tab": TAB}))["ok"]
        await dashboard.wait_row(second.id, lambda r: r["state"] == "online", timeout=10)
        await other.disconnect()
        await dashboard.wait_row(second.id, lambda r: r["state"] == "offline", timeout=10)
        await staff.act("void", {"attempt_id": other_attempt.id, "reason": "替考"})
        await dashboard.wait_row(second.id, lambda r: r["state"] == "voided", timeout=10)

        versions = [d["version"] for d in dashboard.received("rows")]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        await staff.http.close()
        for client in (page, dashboard):
            if client.connected:
                await client.disconnect()
