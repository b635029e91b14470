"""Server-side sessions in Redis: revocable, shared by every process and by Socket.IO.

The cookie carries only a random token. ``sess:<token>`` holds the user id, the CSRF
token, whether the password must still be changed and when the session must end however
active it is (``ends``, the absolute lifetime); its Redis TTL is the idle lifetime, slid by
every request and every Socket.IO event. ``user-sessions:<uid>`` lists the tokens of one
user so that logout-everywhere and password changes can end them all.

Ending a session also publishes it on ``ENDED_CHANNEL``, so that every server process
disconnects the sockets opened with it at once (realtime/sessions.py); sockets of a
session that merely expired are found by that process's own sweep.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import secrets

COOKIE_NAME = "safece_session"
# Published: ``s:<digest>`` (one session ended) or ``u:<user id>`` (the user's sockets must
# reconnect, e.g. their roles changed, and be authorised afresh).
ENDED_CHANNEL = "safece:sessions-ended"


def redis_key(token: str) -> str:
    return f"sess:{token}"


def _user_key(user_id: int) -> str:
    return f"user-sessions:{user_id}"


def digest(token: str) -> str:
    """A short name of a session that does not reveal its token (for channels and logs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


@dataclasses.dataclass
class Session:
    token: str
    csrf: str
    user_id: int | None = None
    must_change_password: bool = False
    ends: float = math.inf  # epoch seconds (app clock) after which it is over

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def key(self) -> str:
        return redis_key(self.token)

    def ttl(self, idle_seconds: int, now: float | None) -> int:
        """The Redis TTL to give it now: the idle lifetime, cut at its absolute end."""
        if now is None or math.isinf(self.ends):
            return idle_seconds
        return max(0, min(idle_seconds, math.ceil(self.ends - now)))


async def create(
    redis,
    *,
    user_id: int | None,
    must_change: bool,
    ttl_seconds: int,
    max_seconds: int | None = None,
    now: float | None = None,
) -> Session:
    """Start a session (anonymous when user_id is None); it ends after ``max_seconds``
    from ``now`` at the latest, however active."""
    session = Session(
        token=secrets.token_urlsafe(32),
        csrf=secrets.token_urlsafe(24),
        user_id=user_id,
        must_change_password=must_change,
    )
    fields = {"csrf": session.csrf, "uid": user_id or "", "must_change": int(must_change)}
    if max_seconds is not None and now is not None:
        session.ends = now + max_seconds
        fields["ends"] = repr(session.ends)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(session.key, mapping=fields)
        pipe.expire(session.key, session.ttl(ttl_seconds, now))
        if user_id is not None:
            pipe.sadd(_user_key(user_id), session.token)
        await pipe.execute()
    return session


async def load(
    redis, token: str | None, *, ttl_seconds: int | None = None, now: float | None = None
) -> Session | None:
    """The session for a cookie token, sliding its expiry when ttl_seconds is given.

    With ``now`` a session past its absolute end is ended and None returned."""
    if not token or len(token) > 100:
        return None
    data = await redis.hgetall(redis_key(token))
    if not data or "csrf" not in data:
        return None
    session = Session(
        token=token,
        csrf=data["csrf"],
        user_id=int(data["uid"]) if data.get("uid") else None,
        must_change_password=data.get("must_change") == "1",
        ends=float(data["ends"]) if data.get("ends") else math.inf,
    )
    if now is not None and now >= session.ends:
        await revoke(redis, session)
        return None
    if ttl_seconds:
        await redis.expire(session.key, session.ttl(ttl_seconds, now))
    return session


async def revoke(redis, session: Session) -> None:
    """End one session, and tell every server process to close its sockets."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(session.key)
        if session.user_id is not None:
            pipe.srem(_user_key(session.user_id), session.token)
        pipe.publish(ENDED_CHANNEL, f"s:{digest(session.token)}")
        await pipe.execute()


async def revoke_all(redis, user_id: int) -> int:
    """End every session of a user (and their sockets everywhere); return how many."""
    tokens = await redis.smembers(_user_key(user_id))
    async with redis.pipeline(transaction=True) as pipe:
        for token in tokens:
            pipe.delete(redis_key(token))
            # Per session, not per user: a session started right after (the browser that
            # changed the password) keeps its sockets.
            pipe.publish(ENDED_CHANNEL, f"s:{digest(token)}")
        pipe.delete(_user_key(user_id))
        await pipe.execute()
    return len(tokens)


async def reconnect_sockets(redis, user_id: int) -> None:
    """Close a user's sockets in every process (they reconnect and are authorised again),
    e.g. after their roles changed; their web sessions go on."""
    await redis.publish(ENDED_CHANNEL, f"u:{user_id}")


async def still_alive(redis, session: Session, *, idle_seconds: int, now: float) -> bool:
    """One round trip: slide the session's idle expiry, and say whether it still exists."""
    ttl = session.ttl(idle_seconds, now)
    if ttl <= 0:
        await revoke(redis, session)
        return False
    return bool(await redis.expire(session.key, ttl))
