"""Namespace /study with real python-socketio clients against the running app."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import aiohttp
import pytest
import socketio
from sqlalchemy import select

from app import create_app
from app.asgi import run_study_flusher
from app.db import Database
from app.learning.models import VideoProgress
from tests.factories import captcha_answer

PASSWORD = "Str0ng-Pass!"


async def http_login(base_url: str, redis, id_number: str) -> str:
    """Log in through the real login form over HTTP; return the session cookie value."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url, cookie_jar=jar) as http:
        page = await (await http.get("/login")).text()
        captcha_id = re.search(r'id="captcha-id" value="([^"]+)"', page).group(1)
        form = {
            "csrf_token": re.search(r'name="csrf-token" content="([^"]*)"', page).group(1),
            "captcha_id": captcha_id,
            "captcha": await captcha_answer(redis, captcha_id),
            "username": id_number,
            "password": PASSWORD,
        }
        response = await http.post("/login", data=form, allow_redirects=False)
        assert response.status == 302
        return next(c.value for c in jar if c.key == "safece_session")


async def connect(base_url: str, cookie: str | None) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"safece_session={cookie}"} if cookie else {}
    await client.connect(
        base_url,
        headers=headers,
        namespaces=["/study"],
        transports=["websocket"],
        wait_timeout=10,  # a busy machine may take over a second to answer the handshake
    )
    return client


@pytest.fixture
async def watcher(live_server, live_svc, factory_live):
    learning, cat = factory_live
    user = await learning.learner(cat.batch.id)
    cookie = await http_login(live_server.base_url, live_svc.redis, user.id_number)
    clients = []

    async def open_client():
        client = await connect(live_server.base_url, cookie)
        clients.append(client)
        return client

    yield user, cat, open_client
    for client in clients:
        await client.disconnect()


@pytest.fixture
async def factory_live(live_svc):
    from tests.factories import Factory
    from tests.learning.conftest import Learning

    learning = Learning(live_svc, Factory(live_svc))
    return learning, await learning.batch()


async def test_socket__acknowledged_credit_survives_a_restart(watcher, clock, config):
    user, cat, open_client = watcher
    client = await open_client()
    video = cat.videos[cat.courses[0].id][0]

    started = await client.call("start", {"video_id": video.id}, namespace="/study")
    clock.advance(seconds=15)
    beat = {"token": started["token"], "seq": 1, "position": 15.0, "reason": "tick"}
    reply = await client.call("beat", beat, namespace="/study")

    assert started["ok"] and started["resume_s"] == 0 and started["interval_s"] == 15
    assert reply == {
        "ok": True,
        "credited_s": 15.0,
        "percent": 25,
        "watched_s": 15.0,
        "complete": False,
        "course_complete": False,
    }
    # This server never flushed (its flusher is off): the credit is only in Redis. A
    # restarted server process writes it to the database by itself.
    assert await stored_segments(config.database_url, user.id) is None
    restarted = create_app(dataclasses.replace(config, study_flusher=True))
    run_study_flusher(restarted)
    async with restarted.test_app():
        for _ in range(200):
            if await stored_segments(config.database_url, user.id):
                break
            await asyncio.sleep(0.05)
    assert await stored_segments(config.database_url, user.id) == "[[0,15000]]"


async def stored_segments(database_url: str, user_id: int) -> str | None:
    db = Database(database_url)
    async with db.read() as session:
        row = await session.scalar(select(VideoProgress).where(VideoProgress.user_id == user_id))
    await db.dispose()
    return row.segments if row else None


async def test_socket__fraud_is_answered_with_no_credit(watcher, clock):
    user, cat, open_client = watcher
    client = await open_client()
    video = cat.videos[cat.courses[1].id][0]
    started = await client.call("start", {"video_id": video.id}, namespace="/study")
    token = started["token"]

    clock.advance(seconds=1)
    early = await client.call(
        "beat", {"token": token, "seq": 1, "position": 1.0}, namespace="/study"
    )
    clock.advance(seconds=14)
    jump = await client.call(
        "beat", {"token": token, "seq": 2, "position": 90.0}, namespace="/study"
    )
    replay = await client.call(
        "beat", {"token": token, "seq": 2, "position": 90.0}, namespace="/study"
    )

    assert early["credited_s"] == 0 and early["note"] == "too_early"
    assert jump["credited_s"] == 0 and jump["note"] == "jump" and jump["message"]
    assert replay["ok"] is False and replay["code"] == "stale_beat"


async def test_socket__second_tab_takes_over_and_the_first_is_told(watcher, clock):
    user, cat, open_client = watcher
    first = await open_client()
    second = await open_client()
    told = asyncio.get_running_loop().create_future()
    first.on("ended", lambda data: told.set_result(data), namespace="/study")
    video = cat.videos[cat.courses[0].id][0]

    old = await first.call("start", {"video_id": video.id}, namespace="/study")
    await second.call("start", {"video_id": video.id}, namespace="/study")
    notice = await asyncio.wait_for(told, timeout=5)
    clock.advance(seconds=15)
    refused = await first.call(
        "beat", {"token": old["token"], "seq": 1, "position": 15.0}, namespace="/study"
    )

    assert notice["token"] == old["token"] and notice["code"] == "play_replaced"
    assert "其他页面或设备" in notice["message"]
    assert refused["ok"] is False and refused["code"] == "play_replaced"


async def test_socket__attention_check_is_answered_over_the_socket(live_server, live_svc, clock):
    from tests.factories import Factory
    from tests.learning.conftest import Learning, challenge_code

    learning = Learning(live_svc, Factory(live_svc))
    cat = await learning.batch(
        courses=[("长课程", "public", True, [3600], None)],
        attention_min_minutes=1,
        attention_max_minutes=1,
    )
    user = await learning.learner(cat.batch.id)
    client = await connect(
        live_server.base_url, await http_login(live_server.base_url, live_svc.redis, user.id_number)
    )
    video = cat.videos[cat.courses[0].id][0]
    token = (await client.call("start", {"video_id": video.id}, namespace="/study"))["token"]

    async def beat(seq):
        clock.advance(seconds=15)
        body = {"token": token, "seq": seq, "position": 15.0 * seq}
        return await client.call("beat", body, namespace="/study")

    replies = [await beat(seq) for seq in range(1, 6)]
    nonce = replies[3]["challenge"]["nonce"]
    passed = await client.call(
        "answer",
        {"token": token, "nonce": nonce, "code": await challenge_code(live_svc, nonce)},
        namespace="/study",
    )
    after = await beat(6)
    await client.disconnect()

    assert [r["credited_s"] for r in replies] == [15, 15, 15, 15, 0]
    assert replies[4]["note"] == "attention_pending" and replies[4]["held_s"] == 15
    assert passed["ok"] and passed["passed"] and passed["credited_s"] == 15
    assert after["credited_s"] == 15 and "challenge" not in after


async def test_socket__bad_payloads_get_chinese_errors(watcher):
    user, cat, open_client = watcher
    client = await open_client()

    no_video = await client.call("start", {}, namespace="/study")
    not_dict = await client.call("beat", "hello", namespace="/study")
    no_token = await client.call("beat", {"seq": 1, "position": 1}, namespace="/study")
    stop = await client.call("stop", None, namespace="/study")

    assert no_video["ok"] is False and "视频编号" in no_video["message"]
    assert not_dict["ok"] is False and not_dict["code"] == "bad_request"
    assert no_token["ok"] is False and no_token["code"] == "play_expired"
    assert stop == {"ok": True}


async def test_socket__connection_without_login_is_refused(live_server):
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(live_server.base_url, None)
