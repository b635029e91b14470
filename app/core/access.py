"""Who may see how the system runs: /metrics and the process list of /healthz.

An operator is a caller from this machine (loopback, as ``SAFECE_TRUST_PROXY`` resolves the
client's address: through nginx on the same machine that is the address nginx saw), or one
that sends ``Authorization: Bearer <SAFECE_METRICS_TOKEN>``. For /healthz an admin's
session counts too. Everyone else gets the public answer (/healthz: ok, database, redis)
or 404 (/metrics), which tells a stranger nothing.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets

from quart import request

from app.accounts import service as accounts
from app.accounts import sessions
from app.config import Config
from app.lib import net


def from_loopback(config: Config) -> bool:
    """Whether the caller is on this machine. A request that carries X-Forwarded-For when
    no proxy of ours is configured came through a proxy we were not told about: not local."""
    forwarded = request.headers.getlist("X-Forwarded-For")
    if config.trust_proxy == 0 and forwarded:
        return False
    address = net.client_ip(request.remote_addr, forwarded, config.trust_proxy)
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def has_token(config: Config) -> bool:
    """Whether the caller sent the configured bearer token (none configured: never)."""
    sent = request.headers.get("Authorization", "")
    scheme, _, token = sent.partition(" ")
    if not config.metrics_token or scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(token.strip().encode(), config.metrics_token.encode())


def is_operator(config: Config) -> bool:
    """Loopback or the token: who may read /metrics."""
    return from_loopback(config) or has_token(config)


async def is_admin_session(svc) -> bool:
    """Whether the request's session cookie belongs to a signed-in admin (for routes that
    skip loading the session, like /healthz; a store that does not answer means no)."""
    token = request.cookies.get(sessions.COOKIE_NAME)
    if not token:
        return False
    with contextlib.suppress(Exception):
        session = await sessions.load(svc.redis, token, now=svc.now().timestamp())
        if session is None or session.user_id is None or session.must_change_password:
            return False
        async with svc.db.read() as db:
            user = await accounts.get(session=db, user_id=session.user_id)
        return user is not None and user.is_active and user.has_role("admin")
    return False
