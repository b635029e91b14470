"""Only pages of the site's own origin (and configured extra ones) may open a socket.

A page elsewhere (a sibling subdomain, a sandboxed frame sending ``Origin: null``) would
otherwise ride on the learner's cookie. Checked over both transports: WebSocket with the
Socket.IO client, long-polling with plain HTTP requests as a page's XHR would send them.
"""

import json

import aiohttp
import pytest
import socketio

from app.accounts import sessions
from tests.factories import Factory, http_login

PASSWORD = "Str0ng-Pass!"
FOREIGN = ["https://evil.example", "http://127.0.0.1.nip.io", "null", "http://127.0.0.1:1"]


async def _websocket(base_url: str, token: str, origin: str, namespace: str) -> bool:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"{sessions.COOKIE_NAME}={token}", "Origin": origin}
    try:
        await client.connect(
            base_url,
            headers=headers,
            transports=["websocket"],
            namespaces=[namespace],
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError:
        return False
    connected = client.connected
    await client.disconnect()
    return connected


async def _polling(base_url: str, token: str, origin: str, namespace: str) -> bool:
    """Engine.IO handshake, then the Socket.IO CONNECT of a namespace, over long-polling."""
    headers = {"Cookie": f"{sessions.COOKIE_NAME}={token}", "Origin": origin}
    url = f"{base_url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url) as response:
            if response.status != 200:
                return False
            sid = json.loads((await response.text())[1:])["sid"]
        prefix = "" if namespace == "/" else f"{namespace},"
        async with http.post(f"{url}&sid={sid}", data=f"40{prefix}") as response:
            if response.status != 200:
                return False
        async with http.get(f"{url}&sid={sid}") as response:
            reply = await response.text()
        async with http.post(f"{url}&sid={sid}", data="1"):
            pass
    return reply.startswith(f"40{prefix}") and '"sid"' in reply


TRANSPORTS = {"websocket": _websocket, "polling": _polling}


@pytest.fixture
async def token(live_server, live_svc):
    user = await Factory(live_svc).user()
    return await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("origin", FOREIGN)
async def test_handshake__a_foreign_origin_is_refused(live_server, token, origin, transport):
    for namespace in ("/", "/study", "/exam", "/proctor"):
        assert not await TRANSPORTS[transport](live_server.base_url, token, origin, namespace)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_handshake__the_sites_own_origin_connects(live_server, token, transport):
    for namespace in ("/", "/study"):
        assert await TRANSPORTS[transport](
            live_server.base_url, token, live_server.base_url, namespace
        )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_handshake__a_configured_extra_origin_connects(
    live_server, live_svc, token, transport
):
    other = "https://www.safe.example"
    assert not await TRANSPORTS[transport](live_server.base_url, token, other, "/")
    live_svc.config.extra_origins = (other,)
    assert await TRANSPORTS[transport](live_server.base_url, token, other, "/")
