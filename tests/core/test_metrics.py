"""/metrics: the Prometheus text format, for this machine and the token holder only; its
numbers move as a small exam runs. (How several processes add up: tests/cluster.)"""

from __future__ import annotations

import asyncio
import urllib.request

import socketio
from prometheus_client.parser import text_string_to_metric_families

from tests.exams.conftest import SMALL, Exams, paper_of
from tests.factories import Factory, http_login

PASSWORD = "Str0ng-Pass!"
OUTSIDE = {"client": ("203.0.113.9", 50000)}


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(base_url: str, **headers: str) -> dict:
    request = urllib.request.Request(base_url + "/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(response.read().decode())


async def test_metrics__only_this_machine_and_the_token_holder_read_them(client, svc):
    assert (await client.get("/metrics", scope_base=OUTSIDE)).status_code == 404
    forged = {"X-Forwarded-For": "127.0.0.1"}
    local = {"client": ("127.0.0.1", 50000)}
    assert (await client.get("/metrics", scope_base=local, headers=forged)).status_code == 404
    assert (await client.get("/metrics", scope_base=local)).status_code == 200
    svc.config.metrics_token = "token-of-the-monitoring-host"
    wrong = {"Authorization": "Bearer token-of-someone-else"}
    assert (await client.get("/metrics", scope_base=OUTSIDE, headers=wrong)).status_code == 404
    right = {"Authorization": "Bearer token-of-the-monitoring-host"}
    response = await client.get("/metrics", scope_base=OUTSIDE, headers=right)
    assert response.status_code == 200
    assert "safece_http_requests_total" in await response.get_data(as_text=True)


async def test_metrics__move_during_a_small_exam(live_server, live_svc):
    exams = Exams(live_svc, Factory(live_svc))
    batch = await exams.batch(policy=SMALL)
    people = [await exams.eligible(batch, name=f"考生{n}") for n in range(3)]
    before = await asyncio.to_thread(scrape, live_server.base_url)
    pages = []
    for person in people:
        attempt = await exams.start(person, batch)
        token = await http_login(live_server.base_url, live_svc.redis, person.id_number, PASSWORD)
        page = socketio.AsyncClient(reconnection=False)
        await page.connect(
            live_server.base_url,
            headers={"Cookie": f"safece_session={token}"},
            namespaces=["/exam"],
            transports=["websocket"],
        )
        join = {"attempt_id": attempt.id, "tab": f"tab-metrics-{person.id}"}
        assert (await page.call("join", join, namespace="/exam", timeout=10))["ok"]
        pages.append((page, attempt))
    for seq, n in enumerate(range(4), start=1):
        replies = await asyncio.gather(
            *(
                page.call(
                    "answer",
                    {"question_id": paper_of(attempt)[n].question_id, "value": "A", "seq": seq},
                    namespace="/exam",
                    timeout=10,
                )
                for page, attempt in pages
            )
        )
        assert all(reply["ok"] for reply in replies), replies
    await asyncio.sleep(1.2)  # a pool sample, and loop-lag probes
    during = await asyncio.to_thread(scrape, live_server.base_url)

    def moved(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert moved("safece_sockets_connected", namespace="/exam") == 3
    assert moved("safece_exam_ack_seconds_count") == 12
    assert 0 < moved("safece_exam_ack_seconds_sum") < 12 * 10
    assert moved("safece_exam_commit_saves_sum") == 12
    assert 1 <= moved("safece_exam_commit_saves_count") <= 12
    assert moved("safece_exam_commit_seconds_count") == moved("safece_exam_commit_saves_count")
    # A probe every 100 ms (fewer when a loaded machine starves the loop: that is lag).
    assert moved("safece_event_loop_lag_seconds_count", process="server") >= 1
    assert value(during, "safece_db_connections_max", process="server") > 0
    assert moved("safece_logins_total", outcome="ok") == 3
    login = moved("safece_http_requests_total", route="/login", method="POST", status="302")
    assert login == 3
    assert moved("safece_http_requests_total", route="/login", method="GET", status="200") == 3
    assert value(during, "safece_certificates", state="issued") == 0
    assert ("safece_queue_jobs", (("queue", "main"),)) in during
    assert value(during, "safece_up", store="database") == 1
    assert value(during, "safece_up", store="redis") == 1
    assert value(during, "safece_redis_ping_seconds") > 0
    for page, _ in pages:
        await page.disconnect()
    # The server handles each disconnect in a task of its own: wait for them (a loaded
    # machine takes a while), not for a fixed time.
    exam_sockets = ("safece_sockets_connected", (("namespace", "/exam"),))
    loop = asyncio.get_running_loop()
    give_up = loop.time() + 20
    while True:
        after = await asyncio.to_thread(scrape, live_server.base_url)
        if after.get(exam_sockets, 0.0) == before.get(exam_sockets, 0.0):
            break
        assert loop.time() < give_up, (after.get(exam_sockets), before.get(exam_sockets))
        await asyncio.sleep(0.1)


async def test_metrics__refused_logins_count_by_reason(client, svc, factory):
    from tests.factories import login

    user = await factory.user()
    before = await client.get("/metrics", scope_base={"client": ("127.0.0.1", 1)})
    await login(client, svc, user.id_number, "Wrong-Pass-1")
    after = await client.get("/metrics", scope_base={"client": ("127.0.0.1", 1)})
    counted = [
        value(
            parse(await r.get_data(as_text=True)), "safece_logins_total", outcome="bad_credentials"
        )
        for r in (before, after)
    ]
    assert counted[1] - counted[0] == 1
