"""Sockets live only as long as the web session they were opened with.

Each server process keeps a ``SessionWatch``: which of its sockets belong to which session
and user. A socket is closed

- at once when its session is ended anywhere (logout, password change, deactivation): the
  process that ended it publishes on ``sessions.ENDED_CHANNEL`` and every process closes its
  own sockets of that session (``u:<user>`` closes all of a user's, e.g. when the roles
  changed, and they reconnect to be authorised again);
- within a second of its session expiring (idle or absolute lifetime): the process knows
  when each session's TTL would run out and then asks Redis whether it did;
- on its next event otherwise: an event first slides the session's idle TTL, and a
  session that is gone refuses the event (``login_required``) and closes the socket
  (``alive``, one Redis round trip).

That round trip was a third of the server's CPU per autosave, so a session is slid at most
once per ``SLIDE_SECONDS`` (on the app clock): its idle lifetime is hours, and ending it
closes its sockets at once through the channel, not through the next event. While the
channel is not being listened to (Redis restarting) every event checks again, and so does
the first event of every session after listening resumes (a message may have been missed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging

from app.accounts import sessions
from app.lib import metrics
from app.services import Services

log = logging.getLogger("safece.realtime.sessions")

SWEEP_SECONDS = 1.0
RETRY_SECONDS = 1.0
SLIDE_SECONDS = 30.0
# The channel's latest messages, for handshakes that were checked while one arrived.
HEARD_KEPT = 1000


@dataclasses.dataclass
class _Socket:
    session: sessions.Session
    digest: str
    user_id: int


class SessionWatch:
    """The sockets of one server process, by session and by user."""

    def __init__(self, svc: Services, disconnect) -> None:
        self.svc = svc
        self._disconnect = disconnect  # async (sid, namespace) -> None
        self.sockets: dict[tuple[str, str], _Socket] = {}
        self.by_digest: dict[str, set[tuple[str, str]]] = {}
        self.by_user: dict[int, set[tuple[str, str]]] = {}
        # token -> (when its Redis TTL runs out unless slid meanwhile, epoch seconds on the
        # app clock; the session)
        self.due: dict[str, tuple[float, sessions.Session]] = {}
        # token -> when an event last found it alive and slid it (app clock, epoch seconds)
        self.checked: dict[str, float] = {}
        # Whether ended sessions are being heard on the channel right now.
        self.listening = False
        # How many messages were handled, and the latest: (number, kind, name).
        self.heard = 0
        self._recent: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=HEARD_KEPT)
        self._tasks: list[asyncio.Task] = []

    @property
    def idle_seconds(self) -> int:
        return self.svc.config.session_idle_minutes * 60

    # ------------------------------------------------------------------ registry

    def add(self, sid: str, namespace: str, session: sessions.Session) -> None:
        """A socket was admitted with this session."""
        digest = sessions.digest(session.token)
        key = (sid, namespace)
        if key not in self.sockets:
            metrics.SOCKETS.labels(namespace).inc()
        self.sockets[key] = _Socket(session, digest, session.user_id)
        self.by_digest.setdefault(digest, set()).add(key)
        self.by_user.setdefault(session.user_id, set()).add(key)
        self._slid(session)
        self.start()

    def heard_since(self, mark: int, session: sessions.Session) -> bool:
        """Whether, since ``mark`` (``heard`` then), the channel named this session or its
        user: a handshake that read the session before such a message, and is added after
        it, was never closed by it (the user's rights changed, or the session ended, while
        it was being checked)."""
        if self.heard == mark:
            return False
        if not self._recent or self._recent[0][0] > mark + 1:
            return True  # more arrived meanwhile than are kept: assume so
        digest, user = sessions.digest(session.token), str(session.user_id)
        for number, kind, name in reversed(self._recent):
            if number <= mark:
                break
            if (kind, name) in (("s", digest), ("u", user)):
                return True
        return False

    def discard(self, sid: str, namespace: str) -> None:
        """A socket went away."""
        entry = self.sockets.pop((sid, namespace), None)
        if entry is None:
            return
        metrics.SOCKETS.labels(namespace).dec()
        for index, name in ((self.by_digest, entry.digest), (self.by_user, entry.user_id)):
            keys = index.get(name)
            if keys is not None:
                keys.discard((sid, namespace))
                if not keys:
                    del index[name]
        if entry.digest not in self.by_digest:
            self.due.pop(entry.session.token, None)
            self.checked.pop(entry.session.token, None)

    def _now(self) -> float:
        return self.svc.now().timestamp()

    def _slid(self, session: sessions.Session) -> None:
        now = self._now()
        self.due[session.token] = (now + session.ttl(self.idle_seconds, now), session)

    # ------------------------------------------------------------------ checks

    async def alive(self, sid: str, namespace: str) -> bool:
        """Whether the socket's session still exists: slid in Redis (one round trip) unless
        an event did so less than SLIDE_SECONDS ago and the channel is being heard."""
        entry = self.sockets.get((sid, namespace))
        if entry is None:
            return False
        session, now = entry.session, self._now()
        checked = self.checked.get(session.token)
        recent = checked is not None and now - checked < SLIDE_SECONDS
        # Not past when its TTL would run out (nor so its absolute end), as the sweep knows.
        due = self.due.get(session.token)
        if recent and self.listening and due is not None and now < due[0]:
            return True
        ok = await sessions.still_alive(
            self.svc.redis,
            session,
            idle_seconds=self.idle_seconds,
            now=now,
        )
        if ok:
            self._slid(session)
            self.checked[session.token] = now
        return ok

    async def close(self, keys: set[tuple[str, str]] | None) -> None:
        """Disconnect these sockets of this process."""
        for sid, namespace in list(keys or ()):
            self.discard(sid, namespace)
            with contextlib.suppress(Exception):
                await self._disconnect(sid, namespace)

    async def sweep(self) -> None:
        """Close the sockets of sessions whose TTL has run out (idle or absolute end)."""
        now = self._now()
        due = [session for at, session in self.due.values() if at <= now]
        for session in [s for s in due if now >= s.ends]:
            # Over however active: ending it tells every process (ours through the channel).
            self.due.pop(session.token, None)
            await sessions.revoke(self.svc.redis, session)
        due = [s for s in due if now < s.ends]
        if not due:
            return
        async with self.svc.redis.pipeline(transaction=False) as pipe:
            for session in due:
                pipe.pttl(session.key)
            ttls = await pipe.execute()
        for session, ttl in zip(due, ttls, strict=True):
            if ttl == -2:  # gone: it expired
                self.due.pop(session.token, None)
                await self.close(self.by_digest.get(sessions.digest(session.token)))
            elif session.token in self.due:
                # Slid meanwhile (a request, or an event in another process).
                left = ttl / 1000 if ttl > 0 else self.idle_seconds
                self.due[session.token] = (now + left, session)

    # ------------------------------------------------------------------ background

    def start(self) -> None:
        """Listen for ended sessions and sweep expired ones (once per process)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._sweeping())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def handle(self, message: str) -> None:
        """One message from the channel: close the sockets it names."""
        kind, _, name = message.partition(":")
        self.heard += 1
        self._recent.append((self.heard, kind, name))
        if kind == "s":
            await self.close(self.by_digest.get(name))
        elif kind == "u" and name.isdigit():
            await self.close(self.by_user.get(int(name)))

    async def _listen(self) -> None:
        while True:
            try:
                async with self.svc.redis.pubsub() as pubsub:
                    await pubsub.subscribe(sessions.ENDED_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self.handle(message["data"])
                        elif message.get("type") == "subscribe":
                            # What ended while nobody listened is found by the next events.
                            self.checked.clear()
                            self.listening = True
            except asyncio.CancelledError:
                self.listening = False
                raise
            except Exception as error:
                # Redis restarting: listen again; meanwhile every event checks its session.
                self.listening = False
                log.warning("session channel lost (%s); listening again", error)
                await asyncio.sleep(RETRY_SECONDS)

    async def _sweeping(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("session sweep failed (%s)", error)
