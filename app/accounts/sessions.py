"""Server-side sessions in Redis: revocable, shared by every process and by Socket.IO.

The cookie carries only a random token. ``sess:<token>`` holds the user id, the CSRF
token and whether the password must still be changed; ``user-sessions:<uid>`` lists the
tokens of one user so that logout-everywhere and password changes can end them all.
"""

from __future__ import annotations

import dataclasses
import secrets

COOKIE_NAME = "safece_session"


def _key(token: str) -> str:
    return f"sess:{token}"


def _user_key(user_id: int) -> str:
    return f"user-sessions:{user_id}"


@dataclasses.dataclass
class Session:
    token: str
    csrf: str
    user_id: int | None = None
    must_change_password: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None


async def create(redis, *, user_id: int | None, must_change: bool, ttl_seconds: int) -> Session:
    """Start a session (anonymous when user_id is None)."""
    session = Session(
        token=secrets.token_urlsafe(32),
        csrf=secrets.token_urlsafe(24),
        user_id=user_id,
        must_change_password=must_change,
    )
    fields = {"csrf": session.csrf, "uid": user_id or "", "must_change": int(must_change)}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(_key(session.token), mapping=fields)
        pipe.expire(_key(session.token), ttl_seconds)
        if user_id is not None:
            pipe.sadd(_user_key(user_id), session.token)
        await pipe.execute()
    return session


async def load(redis, token: str | None, *, ttl_seconds: int | None = None) -> Session | None:
    """The session for a cookie token, sliding its expiry when ttl_seconds is given."""
    if not token or len(token) > 100:
        return None
    data = await redis.hgetall(_key(token))
    if not data:
        return None
    session = Session(
        token=token,
        csrf=data["csrf"],
        user_id=int(data["uid"]) if data.get("uid") else None,
        must_change_password=data.get("must_change") == "1",
    )
    if ttl_seconds:
        await redis.expire(_key(token), ttl_seconds)
    return session


async def revoke(redis, session: Session) -> None:
    """End one session."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(_key(session.token))
        if session.user_id is not None:
            pipe.srem(_user_key(session.user_id), session.token)
        await pipe.execute()


async def revoke_all(redis, user_id: int) -> int:
    """End every session of a user; return how many there were."""
    tokens = await redis.smembers(_user_key(user_id))
    async with redis.pipeline(transaction=True) as pipe:
        for token in tokens:
            pipe.delete(_key(token))
        pipe.delete(_user_key(user_id))
        await pipe.execute()
    return len(tokens)
