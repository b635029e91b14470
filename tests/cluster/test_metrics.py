"""/metrics of `make cluster`: whichever process answers adds up every server's and worker's
figures (prometheus-client's multiprocess mode), during a small exam on both servers."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import socketio

from tests.cluster.test_cluster import pytestmark  # noqa: F401 - the PostgreSQL pass only
from tests.core.test_metrics import parse, value
from tests.exams.conftest import SMALL, Exams, paper_of
from tests.factories import Factory, http_login
from tests.invigilation.conftest import PASSWORD


def scrape(url: str) -> dict:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return parse(response.read().decode())


async def test_cluster__metrics_add_up_every_process(cluster):
    svc, state = cluster
    exams = Exams(svc, Factory(svc))
    batch = await exams.batch(name="指标测试批次", policy=SMALL)
    before = await asyncio.to_thread(scrape, state["url"])
    pages = []
    # Two pages on each server process, each reached directly on its own port.
    for n, server in enumerate(state["servers"] * 2):
        learner = await exams.eligible(batch, name=f"指标考生{n}")
        attempt = await exams.start(learner, batch)
        base = f"http://127.0.0.1:{server['port']}"
        token = await http_login(state["url"], svc.redis, learner.id_number, PASSWORD)
        page = socketio.AsyncClient(reconnection=False)
        await page.connect(
            base,
            headers={"Cookie": f"safece_session={token}"},
            namespaces=["/exam"],
            transports=["websocket"],
        )
        join = {"attempt_id": attempt.id, "tab": f"tab-metrics-{learner.id}"}
        assert (await page.call("join", join, namespace="/exam", timeout=20))["ok"]
        pages.append((page, attempt))
    try:
        for seq in range(1, 4):
            for page, attempt in pages:
                question = paper_of(attempt)[seq].question_id
                data = {"question_id": question, "value": "A", "seq": seq}
                assert (await page.call("answer", data, namespace="/exam", timeout=20))["ok"]
        during = await asyncio.to_thread(scrape, state["url"])
    finally:
        for page, _ in pages:
            await page.disconnect()

    def moved(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    # Through nginx one process answered, with both servers' sockets and saves.
    assert moved("safece_sockets_connected", namespace="/exam") == 4
    assert moved("safece_exam_ack_seconds_count") == 12
    assert moved("safece_exam_commit_saves_sum") == 12
    files = {p.name for p in (Path(state["data_dir"]) / "metrics").iterdir()}
    for server in state["servers"]:
        assert f"histogram_{server['pid']}.db" in files
    assert value(during, "safece_processes_alive", kind="server") == 2
    assert value(during, "safece_processes_alive", kind="worker") == 2
    # The workers' figures are there too: the deadline sweeper runs every second.
    sweeps = value(during, "safece_jobs_total", job="cron:sweep_exam_deadlines", outcome="complete")
    assert sweeps > 0
    assert value(during, "safece_event_loop_lag_seconds_count", process="worker") > 0
    assert value(during, "safece_db_connections_max", process="server") > 0
