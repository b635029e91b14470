"""The ``/proctor`` namespace: a session's live dashboard for its invigilators and admins.

Protocol (see docs/realtime.md): the page connects with its session cookie and
``auth = {session_id}``; only admins and the invigilators assigned to that session get in
(checked again on every event). It emits ``snapshot`` and gets every row with the
session's version number; the server then pushes ``rows {version, now, rows}`` deltas,
each version one above the last, so a page that sees a gap asks for the snapshot again.
``timeline {user_id}`` returns one learner's history. Messages sent to the session are
pushed as ``message_sent``.

The coalescer: every server process holding dashboards of a session runs one loop that
every ``TICK`` seconds tries the session's lease in Redis; the holder takes the learners
marked dirty since its last turn (``app.invigilation.live``), reads those rows once and
pushes them as one delta. So a row changes at most a few times a second however often its
learner saves, deltas of one session come from one process in order, and nothing relies
on a timer running in only one process.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import socketio

from app.clock import epoch_ms
from app.errors import AppError, Forbidden
from app.exams import sessions
from app.invigilation import assignments, board, live
from app.lib import http
from app.services import Services
from realtime.auth import SessionNamespace, identify, refuse, replies_errors
from realtime.sessions import SessionWatch

log = logging.getLogger("safece.realtime.proctor")

TICK = 0.25  # seconds between a process's turns: at most four deltas a second per session
SESSION_SECONDS = 10.0


def _session_id(auth: object) -> int:
    value = auth.get("session_id") if isinstance(auth, dict) else None
    if not http.is_id(value):
        raise refuse("bad_request", "请从监考页面进入考场")
    return value


class ProctorNamespace(SessionNamespace):
    ROLES = ("invigilator", "admin")

    def __init__(self, svc: Services, watch: SessionWatch) -> None:
        super().__init__(live.NAMESPACE, svc, watch)
        self.host = uuid.uuid4().hex  # this process, as the holder of session leases
        self.watching: dict[int, set[str]] = {}  # session id -> local dashboard sockets
        self._take = svc.redis.register_script(live.TAKE)
        self._release = svc.redis.register_script(live.RELEASE)
        self._loop: asyncio.Task | None = None
        self.deltas = 0  # pushed by this process (for tests and the benchmark)
        self._sessions: dict[int, tuple[float, object]] = {}

    # ------------------------------------------------------------------ access

    async def _may_watch(self, user_id: int, session_id: int) -> bool:
        async with self.svc.db.read() as db:
            return await assignments.may_watch(session=db, user_id=user_id, session_id=session_id)

    async def _checked(self, sid: str) -> dict:
        """The socket's session, after checking again that its user may still watch."""
        session = await self.get_session(sid)
        if not await self._may_watch(session["user_id"], session["session_id"]):
            await self.leave_room(sid, live.room(session["session_id"]))
            raise Forbidden(assignments.NOT_YOURS)
        return session

    # ------------------------------------------------------------------ events

    async def on_connect(self, sid, environ, auth=None):
        identity = await identify(self.svc, environ, *self.ROLES)
        session_id = _session_id(auth)
        if not await self._may_watch(identity.user.id, session_id):
            raise refuse("forbidden", assignments.NOT_YOURS)
        await self.save_session(sid, {"user_id": identity.user.id, "session_id": session_id})
        self.watch.add(sid, self.namespace, identity.session)
        await self.enter_room(sid, live.room(session_id))
        await self.svc.redis.hset(live.watchers_key(session_id), sid, identity.user.id)
        self.watching.setdefault(session_id, set()).add(sid)
        if self._loop is None or self._loop.done():
            self._loop = asyncio.get_running_loop().create_task(self._coalesce())

    async def on_disconnect(self, sid, reason=None):
        session = await self.get_session(sid)
        session_id = session.get("session_id")
        if session_id is None:
            return
        await self.svc.redis.hdel(live.watchers_key(session_id), sid)
        local = self.watching.get(session_id, set())
        local.discard(sid)
        if not local:
            self.watching.pop(session_id, None)
            # Hand the session over at once to a process that still has dashboards of it.
            await self._release(keys=[live.lease_key(session_id)], args=[self.host])

    @replies_errors
    async def on_snapshot(self, sid, data=None):
        """Every row of the session and the version they are at (on connect, after a gap)."""
        session = await self._checked(sid)
        async with self.svc.db.read() as db:
            exam_session = await sessions.get_session(session=db, session_id=session["session_id"])
            snap = await board.snapshot(
                session=db, redis=self.svc.redis, exam_session=exam_session, now=self.svc.now()
            )
        return {"ok": True, **snap}

    @replies_errors
    async def on_timeline(self, sid, data=None):
        """One learner's history in the session."""
        session = await self._checked(sid)
        user_id = data.get("user_id") if isinstance(data, dict) else None
        if not http.is_id(user_id):
            raise AppError("bad_request", "请选择考生")
        async with self.svc.db.read() as db:
            exam_session = await sessions.get_session(session=db, session_id=session["session_id"])
            if not await sessions.is_member(session=db, exam_session=exam_session, user_id=user_id):
                raise AppError("not_found", "该考生不在本考场", 404)
            entries = await board.timeline(session=db, exam_session=exam_session, user_id=user_id)
        return {"ok": True, "entries": entries}

    # ------------------------------------------------------------------ coalescer

    async def _exam_session(self, db, session_id: int):
        """The session (kept for SESSION_SECONDS: every turn needs it, it seldom changes)."""
        hit = self._sessions.get(session_id)
        if hit is not None and time.monotonic() - hit[0] < SESSION_SECONDS:
            return hit[1]
        exam_session = await sessions.get_session(session=db, session_id=session_id)
        self._sessions[session_id] = (time.monotonic(), exam_session)
        return exam_session

    async def _coalesce(self) -> None:
        """While this process holds dashboards, push each watched session's dirty rows."""
        loop = asyncio.get_running_loop()
        while self.watching:
            began = loop.time()
            await asyncio.gather(
                *(self._push(session_id) for session_id in list(self.watching)),
                return_exceptions=True,
            )
            await asyncio.sleep(max(0.0, TICK - (loop.time() - began)))

    async def _push(self, session_id: int) -> None:
        """If this process holds the session's lease, push its dirty rows as one delta."""
        try:
            taken = await self._take(
                keys=[
                    live.lease_key(session_id),
                    live.dirty_key(session_id),
                    live.version_key(session_id),
                ],
                args=[self.host, live.LEASE_MS],
            )
            if not taken or not taken[0]:
                return
            version, members = int(taken[0]), [int(m) for m in taken[1]]
            async with self.svc.db.read() as db:
                exam_session = await self._exam_session(db, session_id)
                rows = await board.rows(
                    session=db, redis=self.svc.redis, exam_session=exam_session, user_ids=members
                )
            await self.svc.emit(
                "rows",
                {"version": version, "now": epoch_ms(self.svc.now()), "rows": rows},
                room=live.room(session_id),
                namespace=live.NAMESPACE,
            )
            self.deltas += 1
        except Exception:
            # The version was taken but nothing pushed: pages see a gap and re-fetch.
            log.exception("pushing the rows of session %s failed", session_id)


def register(sio: socketio.AsyncServer, svc: Services, watch: SessionWatch) -> ProctorNamespace:
    """Add the /proctor namespace to the server."""
    namespace = ProctorNamespace(svc, watch)
    sio.register_namespace(namespace)
    return namespace
