"""Failed-login throttling per account and per IP, judged by the app clock.

After ``slow_after`` failures each further attempt must wait 2, 4, 8 ... seconds (at most
60) after the last failure; after ``lock_after`` failures the account is locked for
``lock_minutes``. An IP is locked after ``ip_lock_after`` failures. Counters are keyed by
the ID number typed, so an unknown account behaves exactly like a known one.
"""

from __future__ import annotations

import dataclasses
import math

from app.errors import AppError


@dataclasses.dataclass(frozen=True)
class Limits:
    slow_after: int
    lock_after: int
    ip_lock_after: int
    lock_seconds: int

    @classmethod
    def from_config(cls, config) -> Limits:
        """The limits a deployment sets (SAFECE_LOGIN_*)."""
        return cls(
            slow_after=config.login_slow_after,
            lock_after=config.login_lock_after,
            ip_lock_after=config.login_ip_lock_after,
            lock_seconds=config.login_lock_minutes * 60,
        )


def _account_key(username: str) -> str:
    return f"loginfail:acct:{username}"


def _ip_key(ip: str) -> str:
    return f"loginfail:ip:{ip}"


async def _state(redis, key: str, *, now: float, window: int) -> tuple[int, float]:
    data = await redis.hgetall(key)
    if not data:
        return 0, 0.0
    count, last = int(data["count"]), float(data["last"])
    if now - last > window:
        return 0, 0.0
    return count, last


async def check(
    redis, username: str, ip: str, *, now: float, limits: Limits, action: str = "登录"
) -> None:
    """Raise AppError when this attempt must not even be tried (``action`` names it)."""
    ip_count, ip_last = await _state(redis, _ip_key(ip), now=now, window=limits.lock_seconds)
    if ip_count >= limits.ip_lock_after:
        minutes = math.ceil((ip_last + limits.lock_seconds - now) / 60)
        raise AppError("login_locked", f"{action}失败次数过多，请 {minutes} 分钟后再试", 429)
    count, last = await _state(redis, _account_key(username), now=now, window=limits.lock_seconds)
    if count >= limits.lock_after:
        minutes = math.ceil((last + limits.lock_seconds - now) / 60)
        raise AppError(
            "login_locked", f"{action}失败次数过多，账号已暂时锁定，请 {minutes} 分钟后再试", 429
        )
    if count >= limits.slow_after:
        wait = min(60, 2 ** (count - limits.slow_after + 1))
        left = math.ceil(last + wait - now)
        if left > 0:
            raise AppError("login_slow", f"{action}尝试过于频繁，请 {left} 秒后再试", 429)


# Atomic so that concurrent failures from several processes are all counted.
_RECORD = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '0')
if tonumber(ARGV[1]) - last > tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
"""


async def record_failure(redis, username: str, ip: str, *, now: float, limits: Limits) -> None:
    """Count a failed attempt against the account and the IP."""
    for key in (_account_key(username), _ip_key(ip)):
        await redis.eval(_RECORD, 1, key, repr(now), limits.lock_seconds, limits.lock_seconds + 60)


async def reset(redis, username: str) -> None:
    """Forget an account's failures after a successful login."""
    await redis.delete(_account_key(username))


async def locked_until(redis, username: str, *, now: float, limits: Limits) -> float | None:
    """When an account's lock after too many failed logins ends (None: not locked)."""
    count, last = await _state(redis, _account_key(username), now=now, window=limits.lock_seconds)
    return last + limits.lock_seconds if count >= limits.lock_after else None
