"""Attention-check answers over the socket and the HTTP fallback, served by two server
processes (two app instances on one Redis): one count of tries and one pause per learner,
and an oversized answer refused in a way the page can show."""

from __future__ import annotations

import asyncio

import pytest

from app import create_app
from app.learning import attention
from app.learning.models import CourseKind
from tests.factories import Factory, csrf_of, login
from tests.learning.conftest import Learning
from tests.learning.test_realtime import PASSWORD, connect, http_login

BEAT = 15


@pytest.fixture
async def two_processes(live_server, live_svc, config, clock):
    """A learner with a socket to one server process and an HTTP client of another, both
    playing one video whose first check falls due after a minute."""
    learning = Learning(live_svc, Factory(live_svc))
    cat = await learning.batch(
        courses=[("长课程", CourseKind.PUBLIC, True, [3600], None)],
        attention_min_minutes=1,
        attention_max_minutes=1,
    )
    user = await learning.learner(cat.batch.id)
    video = cat.videos[cat.courses[0].id][0]
    socket = await connect(
        live_server.base_url, await http_login(live_server.base_url, live_svc.redis, user.id_number)
    )
    other = create_app(config)
    async with other.test_app():
        client = other.test_client()
        assert (
            await login(client, other.extensions["safece"], user.id_number, PASSWORD)
        ).status_code == 302
        headers = {"X-CSRF-Token": await csrf_of(client)}
        yield socket, client, headers, video
    if socket.connected:
        await socket.disconnect()


async def _start_and_reach_the_check(socket, clock, video) -> tuple[str, str]:
    token = (await socket.call("start", {"video_id": video.id}, namespace="/study"))["token"]
    reply = {}
    for seq in range(1, 5):
        clock.advance(seconds=BEAT)
        body = {"token": token, "seq": seq, "position": float(BEAT * seq)}
        reply = await socket.call("beat", body, namespace="/study")
    return token, reply["challenge"]["nonce"]


async def test_answers__socket_and_http_in_two_processes_share_one_count_and_pause(
    two_processes, clock
):
    socket, client, headers, video = two_processes
    token, nonce = await _start_and_reach_the_check(socket, clock, video)

    first = await socket.call(
        "answer", {"token": token, "nonce": nonce, "code": "0000"}, namespace="/study"
    )
    second = await client.post(
        "/api/study/answer",
        json={"token": token, "nonce": first["challenge"]["nonce"], "code": "0000"},
        headers=headers,
    )
    second = await second.get_json()
    third = await socket.call(
        "answer",
        {"token": token, "nonce": second["challenge"]["nonce"], "code": "0000"},
        namespace="/study",
    )
    over_http = await client.post(
        "/api/study/answer",
        json={"token": token, "nonce": second["challenge"]["nonce"], "code": "0000"},
        headers=headers,
    )
    over_socket = await socket.call(
        "answer", {"token": token, "nonce": nonce, "code": "0000"}, namespace="/study"
    )

    assert [first["note"], second["note"], third["note"]] == [
        "attention_wrong",
        "attention_wrong",
        "attention_locked",
    ]
    assert "还可输入 1 次" in second["message"]
    assert third["lock"]["seconds"] == attention.PAUSE_S and "连续 3 次" in third["message"]
    assert over_http.status_code == 429
    refused = await over_http.get_json()
    assert refused["code"] == "attention_locked" and refused["lock"]["seconds"] == 300
    assert over_socket["ok"] is False and over_socket["code"] == "attention_locked"
    assert "暂停计时" in over_socket["message"]


async def test_answers__an_oversized_answer_is_refused_with_a_reason(two_processes, clock):
    socket, client, headers, video = two_processes
    token, nonce = await _start_and_reach_the_check(socket, clock, video)
    closed = asyncio.get_running_loop().create_future()
    socket.on("disconnect", lambda *_: closed.done() or closed.set_result(True), namespace="/study")

    long_code = await socket.call(
        "answer", {"token": token, "nonce": nonce, "code": "A" * 1000}, namespace="/study"
    )
    # Over the socket's 64 KB frame limit the server closes the socket (engine.io's
    # maxPayload, sent in the handshake); the page then sends it over HTTP, which refuses
    # anything over 4 KB with a reason, unread.
    await socket.emit(
        "answer", {"token": token, "nonce": nonce, "code": "A" * 200_000}, namespace="/study"
    )
    await asyncio.wait_for(closed, timeout=10)
    over_http = await client.post(
        "/api/study/answer",
        json={"token": token, "nonce": nonce, "code": "A" * 200_000},
        headers=headers,
    )
    still_open = await client.post(
        "/api/study/answer", json={"token": token, "nonce": nonce, "code": "0000"}, headers=headers
    )

    assert long_code["ok"] is False and long_code["message"] == attention.TOO_LONG
    assert over_http.status_code == 413
    assert "验证码过长" in (await over_http.get_json())["message"]
    # Neither refusal was judged: the check's first try is still there.
    assert "还可输入 2 次" in (await still_open.get_json())["message"]
