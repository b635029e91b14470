"""A socket lives only as long as its web session.

Ending the session (logout, a password change, an admin deactivating the account or
reissuing its password, idle or absolute expiry) closes its sockets within a second, in
this process and in every other server process; and an event checks that the session is
still alive (at most once per ``SLIDE_SECONDS``, and at every event while the channel is not
heard), so an event that slips in is refused (``login_required``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest
import socketio

from app.accounts import sessions
from app.config import ROOT
from realtime.sessions import HEARD_KEPT, SLIDE_SECONDS, SessionWatch
from tests.conftest import _free_port, serving
from tests.factories import CSRF, Factory, http_login

PASSWORD = "Str0ng-Pass!"
NEW_PASSWORD = "Another-Pass-2026"


class Socket:
    """A python-socketio client that records when it was disconnected."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.closed = asyncio.Event()
        self.client.on("disconnect", self.closed.set, namespace="/study")

    @classmethod
    async def open(cls, base_url: str, token: str) -> Socket:
        socket = cls()
        await socket.client.connect(
            base_url,
            headers={"Cookie": f"{sessions.COOKIE_NAME}={token}"},
            namespaces=["/study"],
            transports=["websocket"],
            wait_timeout=10,
        )
        return socket

    async def closed_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), seconds)
        return self.closed.is_set()

    async def start(self) -> dict:
        return await self.client.call("start", {"video_id": 1}, namespace="/study", timeout=5)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()


async def _post(base_url: str, token: str, path: str, form: dict | None = None) -> int:
    """A form POST as the browser of this session sends it (CSRF token from a page)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=base_url, cookie_jar=jar) as http:
        http.cookie_jar.update_cookies({sessions.COOKIE_NAME: token})
        async with http.get("/password") as response:
            csrf = CSRF.search(await response.text()).group(1)
        data = {"csrf_token": csrf, **(form or {})}
        async with http.post(path, data=data, allow_redirects=False) as response:
            return response.status


@pytest.fixture
async def learner(live_svc):
    return await Factory(live_svc).user()


@pytest.fixture
async def admin_token(live_server, live_svc):
    admin = await Factory(live_svc).user(roles=("admin",))
    return await http_login(live_server.base_url, live_svc.redis, admin.id_number, PASSWORD)


async def _login(live_server, live_svc, user) -> str:
    return await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)


async def test_logout__closes_the_sessions_sockets_within_a_second(live_server, live_svc, learner):
    token = await _login(live_server, live_svc, learner)
    other = await _login(live_server, live_svc, learner)  # the same learner on another device
    socket = await Socket.open(live_server.base_url, token)
    elsewhere = await Socket.open(live_server.base_url, other)
    assert await _post(live_server.base_url, token, "/logout") == 302
    assert await socket.closed_within(1.0)
    # The learner's other session (another device) is not this one: it stays.
    assert not await elsewhere.closed_within(0.3)
    assert (await elsewhere.start())["code"] != "login_required"
    await elsewhere.close()


async def test_password_change__closes_every_socket_of_the_account(live_server, live_svc, learner):
    token = await _login(live_server, live_svc, learner)
    other = await _login(live_server, live_svc, learner)
    sockets = [await Socket.open(live_server.base_url, t) for t in (token, other)]
    form = {
        "old_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    assert await _post(live_server.base_url, token, "/password", form) == 302
    for socket in sockets:
        assert await socket.closed_within(1.0)


@pytest.mark.parametrize(("path", "form"), [("active", {"active": "0"}), ("password/reissue", {})])
async def test_admin_deactivation_or_reissue__closes_the_learners_sockets(
    live_server, live_svc, learner, admin_token, path, form
):
    socket = await Socket.open(live_server.base_url, await _login(live_server, live_svc, learner))
    status = await _post(
        live_server.base_url, admin_token, f"/admin/learners/{learner.id}/{path}", form
    )
    assert status == 302
    assert await socket.closed_within(1.0)


async def test_role_change__sockets_reconnect_and_are_authorised_afresh(
    live_server, live_svc, learner, admin_token
):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    form = {"roles": "invigilator"}
    status = await _post(
        live_server.base_url, admin_token, f"/admin/learners/{learner.id}/roles", form
    )
    assert status == 302
    assert await socket.closed_within(1.0)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await Socket.open(live_server.base_url, token)  # no longer a learner


async def test_handshake__told_of_its_session_or_user_while_checked_is_checked_again(svc):
    # A handshake reads the session, then is added to the watch: a message handled in
    # between closed nothing of it, so admit() asks whether one named it (and checks again).
    closed = []

    async def disconnect(sid: str, namespace: str) -> None:
        closed.append((sid, namespace))

    watch = SessionWatch(svc, disconnect)
    mine = sessions.Session(token="a" * 43, csrf="x", user_id=7)
    other = sessions.Session(token="b" * 43, csrf="x", user_id=8)
    mark = watch.heard
    assert not watch.heard_since(mark, mine)
    await watch.handle("u:8")
    await watch.handle(f"s:{sessions.digest(other.token)}")
    assert not watch.heard_since(mark, mine)  # only about others
    await watch.handle("u:7")  # e2e/test_session_end.py: its rights changed
    assert watch.heard_since(mark, mine)
    assert not watch.heard_since(watch.heard, mine)
    mark = watch.heard
    await watch.handle(f"s:{sessions.digest(mine.token)}")  # its session ended
    assert watch.heard_since(mark, mine)
    # More arrived during one handshake than are kept: assumed to name it.
    mark = watch.heard
    for n in range(HEARD_KEPT + 1):
        await watch.handle(f"u:{1000 + n}")
    assert watch.heard_since(mark, mine)
    assert closed == []  # none of these was a socket of this process


async def test_event__of_an_ended_session_is_refused_and_the_socket_closed(
    live_server, live_svc, learner
):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    # The session key vanishes without a word on the channel (as when Redis expires it).
    await live_svc.redis.delete(sessions.redis_key(token))
    reply = await socket.start()
    assert reply == {"ok": False, "code": "login_required", "message": "登录已失效，请重新登录"}
    assert await socket.closed_within(1.0)


async def test_event__slides_the_sessions_idle_expiry(live_server, live_svc, learner):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    await live_svc.redis.expire(sessions.redis_key(token), 30)
    await socket.start()
    idle = live_svc.config.session_idle_minutes * 60
    assert await live_svc.redis.ttl(sessions.redis_key(token)) > idle - 5
    await socket.close()


async def test_event__slides_at_most_once_per_slide_seconds(live_server, live_svc, learner, clock):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    key, idle = sessions.redis_key(token), live_svc.config.session_idle_minutes * 60
    await socket.start()  # slides it
    await live_svc.redis.expire(key, 30)
    clock.advance(seconds=SLIDE_SECONDS - 1)
    await socket.start()
    assert await live_svc.redis.ttl(key) <= 30  # no round trip to Redis
    clock.advance(seconds=1)
    await socket.start()
    assert await live_svc.redis.ttl(key) > idle - 5
    await socket.close()


async def test_event__of_a_silently_ended_session_is_refused_once_slide_seconds_passed(
    live_server, live_svc, learner, clock
):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    assert (await socket.start())["code"] != "login_required"
    await live_svc.redis.delete(sessions.redis_key(token))
    clock.advance(seconds=SLIDE_SECONDS)
    assert (await socket.start())["code"] == "login_required"
    assert await socket.closed_within(1.0)


async def test_channel_lost__the_next_event_checks_its_session_again(
    live_server, live_svc, learner
):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    assert (await socket.start())["code"] != "login_required"
    # Redis drops the listeners (as when it restarts); meanwhile the session ends without
    # a word anybody hears.
    await live_svc.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await live_svc.redis.delete(sessions.redis_key(token))
    deadline = time.monotonic() + 10
    while (await live_svc.redis.pubsub_numsub(sessions.ENDED_CHANNEL))[0][1] == 0:
        assert time.monotonic() < deadline, "the channel was never listened to again"
        await asyncio.sleep(0.05)
    # Without moving the clock: once the channel is heard again, nothing it may have
    # missed is trusted.
    assert (await socket.start())["code"] == "login_required"
    assert await socket.closed_within(1.0)


async def test_idle_expiry__closes_the_socket_within_a_second(
    live_server, live_svc, learner, clock
):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    # Eight idle hours pass: the app clock moves on and Redis drops the key.
    clock.advance(minutes=live_svc.config.session_idle_minutes, seconds=1)
    await live_svc.redis.delete(sessions.redis_key(token))
    assert await socket.closed_within(1.5)


async def test_absolute_lifetime__ends_an_active_session(live_server, live_svc, learner, clock):
    token = await _login(live_server, live_svc, learner)
    socket = await Socket.open(live_server.base_url, token)
    # Active all along (every event and request slides the idle expiry) ...
    for _ in range(live_svc.config.session_max_hours - 1):
        clock.advance(hours=1)
        assert (await socket.start())["code"] != "login_required"
    # ... and yet the session ends at its absolute lifetime.
    clock.advance(hours=1, seconds=1)
    assert await socket.closed_within(1.5)
    assert await live_svc.redis.exists(sessions.redis_key(token)) == 0


# ---------------------------------------------------------------- two server processes


def _serve(config, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        SAFECE_DATA_DIR=str(config.data_dir),
        SAFECE_DATABASE_URL=config.database_url,
        SAFECE_REDIS_URL=config.redis_url,
        SAFECE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SAFECE_STUDY_FLUSHER="0",
        PYTHONPATH=str(ROOT),
    )
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "app.asgi:serve",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def _healthy(base_url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited during start-up"
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base_url}/healthz") as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise AssertionError("server did not start")


@pytest.fixture
async def two_servers(config):
    """Two uvicorn server processes (app.asgi:serve) on this test's database and Redis."""
    ports = [_free_port(), _free_port()]
    procs = [_serve(config, port) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):
            await asyncio.to_thread(_healthy, url, proc)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_logout_in_one_process__closes_sockets_held_by_another(two_servers, svc):
    first, second = two_servers
    user = await Factory(svc).user()
    token = await http_login(first, svc.redis, user.id_number, PASSWORD)
    here, there = await Socket.open(first, token), await Socket.open(second, token)
    began = time.monotonic()
    assert await _post(first, token, "/logout") == 302
    assert await there.closed_within(1.0)
    assert await here.closed_within(1.0)
    assert time.monotonic() - began < 1.5


async def test_shutdown__stops_listening_before_redis_and_the_database_close(config, caplog):
    # The services close last: before, Redis closed under the listener at every shutdown
    # ("session channel lost"), and the exam tabs' papers were freed on a closed client.
    async with serving(config) as asgi:
        watch = asgi.quart.extensions["sio"].session_watch
        deadline = time.monotonic() + 10
        while not watch.listening:
            assert time.monotonic() < deadline, "the channel was never listened to"
            await asyncio.sleep(0.02)
    assert "session channel lost" not in caplog.text
    assert not watch.listening
