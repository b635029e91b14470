"""`make cluster` for real: `python -m devtools cluster` (PostgreSQL, Redis, two server
processes behind nginx, two workers) on free ports in a temp dir, driven through nginx
as browsers are; the exam data is made through the real services, as the other tests do.

It runs in the PostgreSQL pass of `make test` (the cluster has its own PostgreSQL), twice:
straight on PostgreSQL and through PgBouncer (tests/cluster/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import socketio
import yarl
from sqlalchemy import func, select, update

from app.accounts import sessions
from app.certificates.models import Certificate, CertificateState
from app.exams.models import Answer, Attempt
from app.exams.statuses import AttemptStatus, EndedBy
from app.learning.models import StudyDay, VideoProgress
from devtools.pgcluster import server_bin
from tests.certificates.conftest import Certs
from tests.exams.conftest import Exams
from tests.factories import CSRF, Factory, http_login
from tests.invigilation.conftest import PASSWORD
from tests.learning.conftest import Learning

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.skipif(
        os.environ.get("SAFECE_TEST_DATABASE") != "postgresql",
        reason="the cluster brings its own PostgreSQL: it runs once, in the PostgreSQL pass "
        "(SAFECE_TEST_DATABASE=postgresql)",
    ),
    pytest.mark.skipif(
        shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
        reason="nginx is not installed (make cluster installs it)",
    ),
    pytest.mark.skipif(server_bin() is None, reason="PostgreSQL is not installed"),
]


def health(url: str, cookie: str | None = None) -> dict:
    request = urllib.request.Request(url + "/healthz")
    if cookie:
        request.add_header("Cookie", f"safece_session={cookie}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


async def until(test, timeout: float = 30.0, what: str = "the condition"):
    """Poll ``test`` (sync or async) until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while True:
        found = test()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


class Page(socketio.AsyncClient):
    """The exam page's socket through nginx: it reconnects as the page does, and keeps
    the ``submitted`` pushes it gets."""

    def __init__(self, url: str, cookie: str) -> None:
        # A browser sends its cookie with every request, which is what keeps a long-polling
        # page on one process (nginx hashes the cookie); the client's own header goes with
        # the handshake only, so the cookie lives in the HTTP session's jar.
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies({"safece_session": cookie}, yarl.URL(url))
        self.http_session = aiohttp.ClientSession(cookie_jar=jar)
        super().__init__(
            reconnection=True,
            reconnection_delay=0.2,
            reconnection_delay_max=1,
            http_session=self.http_session,
        )
        self.url = url
        self.submitted: list[dict] = []

        async def on_submitted(data):
            self.submitted.append(data)

        self.on("submitted", on_submitted, namespace="/exam")

    async def open(self, transport: str) -> Page:
        await self.connect(
            self.url,
            namespaces=["/exam"],
            transports=[transport],
            wait_timeout=20,
        )
        return self

    async def ask(self, event: str, data: dict) -> dict:
        return await self.call(event, data, namespace="/exam", timeout=20)

    async def close(self) -> None:
        # A long-polling client's disconnect sends its CLOSE at once, then waits for its
        # long-poll request, which the server may hold for the ping interval (25 s).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.disconnect(), timeout=2)
        await self.http_session.close()


async def sitting(svc, exams: Exams, batch, name: str, *, url: str, transport: str):
    """An eligible learner who started an attempt and whose page joined it through nginx."""
    learner = await exams.eligible(batch, name=name)
    attempt = await exams.start(learner, batch)
    cookie = await http_login(url, svc.redis, learner.id_number, PASSWORD)
    page = await Page(url, cookie).open(transport)
    joined = await page.ask("join", {"attempt_id": attempt.id, "tab": f"tab-page-{learner.id}"})
    assert joined["ok"], joined
    return attempt, cookie, page


async def stored(svc, attempt_id: int) -> dict[int, tuple[str, int]]:
    async with svc.db.read() as db:
        rows = await db.execute(
            select(Answer.question_id, Answer.value, Answer.seq).where(
                Answer.attempt_id == attempt_id
            )
        )
        return {qid: (value, seq) for qid, value, seq in rows}


async def test_cluster__healthz_through_nginx_reports_every_part(cluster):
    _, state = cluster
    report = await asyncio.to_thread(health, state["url"])
    assert report["ok"] and report["database"] and report["redis"]
    pids = sorted(int(name.rsplit(":", 1)[1]) for name in report["servers"])
    assert pids == sorted(s["pid"] for s in state["servers"])
    assert sorted(int(n.rsplit(":", 1)[1]) for n in report["workers"]) == sorted(state["workers"])
    assert report["served_by"] in report["servers"]


async def test_cluster__saves_through_nginx_survive_a_killed_server(cluster):
    svc, state = cluster
    url = state["url"]
    exams = Exams(svc, Factory(svc))
    batch = await exams.batch(name="集群测试批次")
    attempt, cookie, page = await sitting(
        svc, exams, batch, "集群考生", url=url, transport="websocket"
    )
    # Long-polling: every request of the socket must reach the process that holds it.
    polled, _, polling = await sitting(svc, exams, batch, "轮询考生", url=url, transport="polling")
    try:
        questions = list(await exams.key(attempt))
        saved = await page.ask("answer", {"question_id": questions[0], "value": "A", "seq": 1})
        assert saved["ok"], saved
        assert (await stored(svc, attempt.id))[questions[0]] == ("A", 1)
        for seq, qid in enumerate(list(await exams.key(polled))[:5], start=1):
            reply = await polling.ask("answer", {"question_id": qid, "value": "B", "seq": seq})
            assert reply["ok"], reply
        assert len(await stored(svc, polled.id)) == 5
        assert polling.transport() == "polling" and polling.connected
        # The learner logs out: the server closes the socket at once, ending its long-poll
        # (a client's own disconnect leaves the server holding it for up to 25 s, which a
        # stopping server would wait out).
        polling.reconnection = False
        await sessions.revoke_all(svc.redis, polled.user_id)
        await until(lambda: not polling.connected, what="the logged-out page to close")
        await polling.close()

        # The process holding the page (the session cookie picks it) is killed outright.
        holder = (await asyncio.to_thread(health, url, cookie))["served_by"]
        killed = int(holder.rsplit(":", 1)[1])
        assert killed in [s["pid"] for s in state["servers"]]
        first_sid = page.get_sid("/exam")
        os.kill(killed, signal.SIGKILL)

        # The page reconnects through nginx to the other process and resumes its paper.
        await until(
            lambda: page.connected and page.get_sid("/exam") not in (None, first_sid),
            what="the page to reconnect",
        )
        rejoined = await page.ask(
            "join", {"attempt_id": attempt.id, "tab": f"tab-page-{attempt.user_id}"}
        )
        assert rejoined["ok"] and rejoined["status"] == "open", rejoined
        assert rejoined["answers"][str(questions[0])]["value"] == "A"
        saved = await page.ask("answer", {"question_id": questions[1], "value": "C", "seq": 2})
        assert saved["ok"], saved
        assert await stored(svc, attempt.id) == {questions[0]: ("A", 1), questions[1]: ("C", 2)}
        report = await asyncio.to_thread(health, url, cookie)
        assert report["served_by"] != holder and report["served_by"] in report["servers"]

        # `make cluster` starts the killed process again, and nginx sends to it once it answers.
        def restarted():
            servers = health(url)["servers"]
            return len(servers) == 2 and holder not in servers

        await until(lambda: asyncio.to_thread(restarted), timeout=120, what="the restart")
    finally:
        await polling.close()
        await page.close()


async def test_cluster__two_workers_close_past_deadline_papers_once(cluster):
    svc, state = cluster
    certificates = Certs(svc, Factory(svc))
    exams = Exams(svc, certificates.factory)
    batch = await exams.batch(name="集群交卷批次")
    learners = [await exams.eligible(batch, name=f"到时考生{n}") for n in range(3)]
    attempts = []
    for learner in learners:
        await certificates.upload_photo(learner)
        attempt = await exams.start(learner, batch)
        tab = f"tab-page-{learner.id}"
        await exams.join(attempt, tab=tab)
        await exams.save(attempt, await exams.key(attempt), tab=tab)  # all right: passed
        attempts.append(attempt)
    cookie = await http_login(state["url"], svc.redis, learners[0].id_number, PASSWORD)
    page = await Page(state["url"], cookie).open("websocket")
    try:
        tab = f"tab-page-{learners[0].id}"
        assert (await page.ask("join", {"attempt_id": attempts[0].id, "tab": tab}))["ok"]
        # Time is up for all three (what the clock would do in two hours).
        ids = [a.id for a in attempts]
        async with svc.db.write() as db:
            await db.execute(
                update(Attempt)
                .where(Attempt.id.in_(ids))
                .values(deadline=svc.now() - dt.timedelta(seconds=1))
            )

        async def closed():
            async with svc.db.read() as db:
                rows = list(await db.scalars(select(Attempt).where(Attempt.id.in_(ids))))
            return all(a.status == AttemptStatus.CLOSED for a in rows) and rows

        for attempt in await until(closed, timeout=60, what="the sweeper"):
            assert attempt.ended_by == EndedBy.TIME_UP and attempt.passed

        async def issued():
            async with svc.db.read() as db:
                rows = list(
                    await db.scalars(select(Certificate).where(Certificate.attempt_id.in_(ids)))
                )
            return len(rows) == 3 and all(c.state == CertificateState.ISSUED for c in rows) and rows

        for certificate in await until(issued, timeout=90, what="the certificates"):
            assert certificate.tries == 1  # rendered once, by one of the two workers
            assert (svc.config.data_dir / "certificates" / certificate.file).exists()
        await until(lambda: page.submitted, what="the submitted push")
        async with svc.db.read() as db:
            count = await db.scalar(
                select(func.count(Certificate.id)).where(Certificate.attempt_id.in_(ids))
            )
        assert count == 3
        assert len(page.submitted) == 1
    finally:
        await page.close()


async def test_cluster__study_beats_alternating_between_processes_are_credited_once(cluster):
    """One play session whose beats go to server A, then B, then A...: the session's state
    lives in Redis, so each beat continues it and the time is credited exactly once."""
    svc, state = cluster
    learning = Learning(svc, Factory(svc))
    catalogue = await learning.batch(name="集群学习批次")
    learner = await learning.learner(catalogue.batch.id, password=PASSWORD)
    video = catalogue.videos[catalogue.courses[0].id][0]
    servers = [f"http://127.0.0.1:{s['port']}" for s in state["servers"]]
    cookie = await http_login(state["url"], svc.redis, learner.id_number, PASSWORD)
    beats = 6
    async with aiohttp.ClientSession(
        cookies={"safece_session": cookie}, timeout=aiohttp.ClientTimeout(total=20)
    ) as http:
        async with http.get(state["url"] + "/courses") as response:
            headers = {"X-CSRF-Token": CSRF.search(await response.text()).group(1)}

        async def call(server: str, path: str, body: dict) -> dict:
            async with http.post(server + path, json=body, headers=headers) as response:
                reply = await response.json()
                assert response.status == 200, reply
                return reply

        started = await call(servers[0], "/api/study/start", {"video_id": video.id})
        credited = []
        for seq in range(1, beats + 1):
            await asyncio.sleep(2.2)  # a real interval: the processes keep real time
            beat = {"token": started["token"], "seq": seq, "position": 2 * seq, "reason": "tick"}
            reply = await call(servers[seq % 2], "/api/study/beat", beat)
            credited.append(reply["credited_s"])
        await call(servers[0], "/api/study/stop", {"token": started["token"]})

    # Every beat continued the one session, wherever it landed: 2 s each, never twice.
    assert all(1.5 <= c <= 2 for c in credited), credited

    async def written() -> int | None:
        async with svc.db.read() as db:
            total = await db.scalar(
                select(func.sum(StudyDay.credited_ms)).where(StudyDay.user_id == learner.id)
            )
        return total if total and total >= 1000 * sum(credited) - 1 else None

    total = await until(written, what="the flushers to write the credit")
    async with svc.db.read() as db:
        progress = await db.scalar(
            select(VideoProgress).where(
                VideoProgress.user_id == learner.id, VideoProgress.video_id == video.id
            )
        )
    assert total == round(1000 * sum(credited)) and total <= 2000 * beats
    assert progress.watched_ms == total and progress.last_position_ms == 2000 * beats
