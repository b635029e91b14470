"""The Socket.IO handshake is authenticated with the web session, and refused otherwise."""

import pytest
import socketio

from app.accounts import sessions
from tests.factories import Factory, http_login

PASSWORD = "Str0ng-Pass!"


class Refused(Exception):
    pass


async def _connect(base_url: str, token: str | None) -> socketio.AsyncClient:
    """Connect with the session cookie; raise Refused with the server's reason."""
    client = socketio.AsyncClient(reconnection=False)
    reasons = []
    client.on("connect_error", lambda data: reasons.append(data))
    headers = {"Cookie": f"{sessions.COOKIE_NAME}={token}"} if token else {}
    try:
        await client.connect(base_url, headers=headers, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        raise Refused(reasons[0]["message"] if reasons else "") from None
    return client


async def test_handshake__with_a_valid_session_connects(live_server, live_svc):
    user = await Factory(live_svc).user()
    token = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
    client = await _connect(live_server.base_url, token)
    assert client.connected
    await client.disconnect()


@pytest.mark.parametrize("token", [None, "forged-token"])
async def test_handshake__without_a_session_is_refused(live_server, token):
    with pytest.raises(Refused) as info:
        await _connect(live_server.base_url, token)
    assert "登录已失效" in str(info.value)


async def test_handshake__initial_password_session_is_refused(live_server, live_svc):
    user = await Factory(live_svc).user(password=None)
    token = await http_login(
        live_server.base_url, live_svc.redis, user.id_number, user.id_number[-6:]
    )
    with pytest.raises(Refused) as info:
        await _connect(live_server.base_url, token)
    assert "修改初始密码" in str(info.value)


async def test_handshake__revoked_session_is_refused(live_server, live_svc):
    user = await Factory(live_svc).user()
    token = await http_login(live_server.base_url, live_svc.redis, user.id_number, PASSWORD)
    await sessions.revoke_all(live_svc.redis, user.id)
    with pytest.raises(Refused):
        await _connect(live_server.base_url, token)
