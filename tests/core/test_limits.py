"""Request bodies have per-route limits, refused with 413 and a Chinese message before the
body is read; and a form is parsed (for its CSRF token) only when it could be right.

Against the real server (uvicorn) with raw sockets, so that "before the body is read" is
what is measured: the client declares a huge body, sends a few kilobytes, and the answer
must come without the server waiting for the rest.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest

from tests.factories import Factory, http_login

PASSWORD = "Str0ng-Pass!"
MiB = 1024 * 1024


async def _raw(
    base_url: str,
    path: str,
    *,
    content_type: str,
    declared: int | None,
    send: bytes,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, float]:
    """Send a request head declaring ``declared`` bytes (chunked when None), then ``send``;
    return the status, the response text and the seconds it took to come."""
    url = urllib.parse.urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", f"Content-Type: {content_type}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if declared is None:
        head.append("Transfer-Encoding: chunked")
        body = b"".join(
            f"{len(send[i : i + 8192]):x}\r\n".encode() + send[i : i + 8192] + b"\r\n"
            for i in range(0, len(send), 8192)
        )
    else:
        head.append(f"Content-Length: {declared}")
        body = send
    loop = asyncio.get_running_loop()
    began = loop.time()
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    took = loop.time() - began
    response = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), 2):
            response += chunk
            if b"</html>" in response or response.rstrip().endswith(b"}"):
                break
    except TimeoutError:
        pass
    writer.close()
    return int(status_line.split()[1]), response.decode("utf-8", "replace"), took


def _json(response: str) -> dict:
    return json.loads(response[response.index("\r\n\r\n") + 4 :])


async def _learner(live_server, live_svc) -> dict[str, str]:
    """A signed-in learner's cookie and CSRF header."""
    user = await Factory(live_svc).user()
    token = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
    csrf = await live_svc.redis.hget(f"sess:{token}", "csrf")
    return {"Cookie": f"safece_session={token}", "X-CSRF-Token": csrf}


async def test_body__a_512_mib_anonymous_login_is_refused_before_it_is_read(live_server):
    status, text, took = await _raw(
        live_server.base_url,
        "/login",
        content_type="application/x-www-form-urlencoded",
        declared=512 * MiB,
        send=b"username=" + b"1" * 16_000,
    )
    assert status == 413 and "提交的内容超过 16 KB 的上限" in text
    assert took < 3


async def test_body__a_96_mib_json_beat_is_refused_before_it_is_read(live_server, live_svc):
    status, text, _ = await _raw(
        live_server.base_url,
        "/api/study/beat",
        content_type="application/json",
        declared=96 * MiB,
        send=b'{"token": "' + b"x" * 30_000,
        headers={**await _learner(live_server, live_svc), "Accept": "application/json"},
    )
    assert status == 413
    assert _json(text) == {
        "code": "too_large",
        "message": "提交的内容超过 64 KB 的上限",
    }


async def test_body__a_chunked_json_body_stops_at_the_limit(live_server, live_svc):
    status, text, _ = await _raw(
        live_server.base_url,
        "/api/study/beat",
        content_type="application/json",
        declared=None,
        send=b'{"token": "' + b"x" * 200_000 + b'"}',
        headers={**await _learner(live_server, live_svc), "Accept": "application/json"},
    )
    assert status == 413 and _json(text)["code"] == "too_large"


async def test_body__a_photo_upload_has_its_own_larger_limit(live_server, live_svc):
    headers = await _learner(live_server, live_svc)
    status, text, _ = await _raw(
        live_server.base_url,
        "/api/profile/photo",
        content_type="multipart/form-data; boundary=xyz",
        declared=5 * MiB,
        send=b"--xyz\r\n",
        headers={**headers, "Accept": "application/json"},
    )
    assert status == 413 and "须小于 500 KB" in _json(text)["message"]


@pytest.mark.parametrize("session", ["none", "anonymous"])
async def test_multipart__from_a_stranger_is_refused_unread(live_server, session):
    """A stranger (even one holding an anonymous session, which anyone gets from /login)
    cannot make the server parse a multipart body: the CSRF check refuses it unread."""
    headers = {"Accept": "application/json"}
    if session == "anonymous":
        token = await http_anonymous_session(live_server.base_url)
        headers["Cookie"] = f"safece_session={token}"
    status, text, took = await _raw(
        live_server.base_url,
        "/api/profile/photo",
        content_type="multipart/form-data; boundary=xyz",
        declared=500_000,
        send=b"--xyz\r\n",  # the rest never comes: reading it would hang
        headers=headers,
    )
    assert status == 400 and took < 3
    assert _json(text) == {"code": "csrf", "message": "页面已过期，请刷新页面后重试"}


async def http_anonymous_session(base_url: str) -> str:
    import aiohttp

    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(base_url=base_url, cookie_jar=jar) as http,
        http.get("/login"),
    ):
        pass
    return next(c.value for c in jar if c.key == "safece_session")
