"""The ``/exam`` namespace: joining a paper, autosaved answers, clock sync, focus, submit.

Protocol (see docs/realtime.md): the page connects with its session cookie, emits
``join {attempt_id, tab}`` and gets the server time, the deadline, every acknowledged
answer, its focus-loss count and rule and the invigilators' unread messages;
``answer {question_id, value, seq}`` is acknowledged only after it is committed;
``sync`` re-reads the clock and deadline (from Redis, the database when in doubt);
``focus {state}`` records leaving the page (and may warn, or submit per the batch's rule);
``message_read {message_id}`` dismisses an invigilator's message; ``submit`` hands the
paper in. The server pushes ``submitted`` (to the attempt's room, from any process or the
worker's sweeper), ``taken_over`` (to a tab replaced by another), ``deadline`` (extra
time) and ``message`` (an invigilator's message: the attempt's room or its session's).

What invigilators see of an attempt in an exam session is refreshed by marking the
learner's row dirty (``app.invigilation.live``): after each acknowledged answer, join,
and when the tab holding the paper goes away.

Which tab holds a paper lives in Redis (``exam:owner:<attempt>``, see app/exams/live.py) so
that every server process sees it; it follows the tab's connection (released when the
socket disconnects; alive while this process is, which ``Presence`` tells every 10 s), not
any event the page sends.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import secrets
import time

import socketio

from app.clock import epoch_ms
from app.errors import AppError
from app.exams import attempts, grading, joining, live, schemas, statuses
from app.exams import paper as papers
from app.exams.answers import Save
from app.exams.autosave import AnswerWriter
from app.exams.joining import JoinKind
from app.invigilation import live as proctor_live
from app.invigilation import messages
from app.lib import net, profiling
from app.lib.periodic import Periodic
from app.services import Services
from realtime.auth import SessionNamespace, refuse, replies_errors
from realtime.sessions import SessionWatch

log = logging.getLogger("safece.realtime.exam")

PAPER_CACHE = 20_000
NOT_JOINED = AppError("not_joined", "请先进入考试页面", 409)


class Presence(Periodic):
    """Tells every process that this one is alive, so the tabs it holds keep their papers."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self.process = secrets.token_hex(8)
        super().__init__(
            lambda: live.beat_process(redis, self.process),
            lambda: live.end_process(redis, self.process),
            live.PROCESS_BEAT,
            "exam presence beat",
        )


class ExamNamespace(SessionNamespace):
    ROLES = ("learner",)

    def __init__(self, svc: Services, watch: SessionWatch) -> None:
        super().__init__(live.NAMESPACE, svc, watch)
        self.writer = AnswerWriter(svc.db, svc.now)
        # attempt id -> (owner user id, question id -> (type, order)). Papers never change.
        # Plain tuples of strings, which the garbage collector stops tracking (3,000 papers
        # as PaperItem objects were 300,000 more objects for every collection to walk),
        # shared between papers (papers.paper_kinds).
        self.papers: collections.OrderedDict[int, tuple[int, dict]] = collections.OrderedDict()
        self._release = svc.redis.register_script(live.RELEASE)
        self._sync = svc.redis.register_script(live.SYNC)
        self.presence = Presence(svc.redis)
        self.marks = proctor_live.Marks(svc.redis)
        # sid -> the answers of that socket being handled (see trigger_event).
        self.answering: dict[str, set[asyncio.Future]] = {}

    async def trigger_event(self, event: str, *args):
        # A socket's events arrive in order, but each runs in a task of its own whose session
        # check is a Redis round trip, and round trips on different pooled connections may
        # come back in any order: a submit could overtake the answers sent just before it.
        # So a submit first waits for the answers of its socket that arrived before it.
        if event not in ("answer", "submit") or not args:
            return await super().trigger_event(event, *args)
        sid = args[0]
        if event == "submit":
            earlier = self.answering.get(sid)
            if earlier:
                await asyncio.wait(list(earlier))
            return await super().trigger_event(event, *args)
        answering = self.answering.setdefault(sid, set())
        done = asyncio.get_running_loop().create_future()
        answering.add(done)
        try:
            return await super().trigger_event(event, *args)
        finally:
            done.set_result(None)
            answering.discard(done)
            if not answering:
                self.answering.pop(sid, None)

    def _owner(self, sid: str, session: dict) -> str:
        return live.owner_value(session["tab"], sid, self.presence.process)

    # ------------------------------------------------------------------ helpers

    def _remember(self, attempt) -> tuple[int, dict]:
        entry = (attempt.user_id, papers.paper_kinds(attempt.paper))
        self.papers[attempt.id] = entry
        self.papers.move_to_end(attempt.id)
        while len(self.papers) > PAPER_CACHE:
            self.papers.popitem(last=False)
        return entry

    async def _paper(self, attempt_id: int, user_id: int) -> dict:
        entry = self.papers.get(attempt_id)
        if entry is None:
            async with self.svc.db.read(quick=True) as db:
                attempt = await attempts.get_attempt(
                    session=db, attempt_id=attempt_id, user_id=user_id
                )
            entry = self._remember(attempt)
        return entry[1]

    async def _joined(self, sid: str) -> dict:
        session = await self.get_session(sid)
        if not session.get("attempt_id"):
            raise NOT_JOINED
        return session

    def _clock(self, attempt) -> dict:
        return {"now": epoch_ms(self.svc.now()), "deadline": epoch_ms(attempt.deadline)}

    # ------------------------------------------------------------------ events

    async def on_connect(self, sid, environ, auth=None):
        agent = environ.get("HTTP_USER_AGENT", "")
        if schemas.is_mobile(agent):
            raise refuse("computer_only", schemas.COMPUTER_ONLY)
        await self.presence.start()
        forwarded = [environ.get("HTTP_X_FORWARDED_FOR", "")]
        ip = net.client_ip(environ.get("REMOTE_ADDR"), forwarded, self.svc.config.trust_proxy)
        await self.admit(sid, environ, agent=agent[:250], ip=ip)

    def _touched(self, session: dict) -> None:
        """The invigilators of the attempt's session see its row change (marked in Redis
        within ``proctor_live.MARK_SECONDS``)."""
        self.marks.add(session.get("exam_session"), [session["user_id"]])

    async def on_disconnect(self, sid, reason=None):
        session = await self.get_session(sid)
        attempt_id = session.get("attempt_id")
        if not attempt_id:
            return
        released = await self._release(
            keys=[live.owner_key(attempt_id)], args=[self._owner(sid, session)]
        )
        if not released:
            return  # another tab holds the paper now: nothing went offline
        try:
            await live.went_offline(self.svc.redis, attempt_id, self.svc.now())
            async with self.svc.db.read(quick=True) as db:
                attempt = await attempts.get_attempt(
                    session=db, attempt_id=attempt_id, user_id=session["user_id"]
                )
            if attempt.is_open:
                async with self.svc.db.write() as db:
                    await joining.record_disconnect(
                        session=db,
                        attempt_id=attempt_id,
                        user_id=session["user_id"],
                        now=self.svc.now(),
                    )
            self._touched(session)
        except Exception:
            log.exception("recording the disconnect of attempt %s failed", attempt_id)

    @replies_errors
    async def on_join(self, sid, data):
        """A tab opens a paper: resume, take over, refuse or forfeit per the batch's rules."""
        request = schemas.JoinIn.parse(data)
        session = await self.get_session(sid)
        user_id = session["user_id"]
        holder = await live.holder(self.svc.redis, request.attempt_id)
        owner_sid = holder.sid if holder else ""
        other_connected = bool(holder and holder.connected and holder.tab != request.tab)
        detail = statuses.device_detail(session["ip"], session["agent"])
        async with self.svc.db.write() as db:
            outcome = await joining.join(
                session=db,
                attempt_id=request.attempt_id,
                user_id=user_id,
                tab=request.tab,
                other_tab_connected=other_connected,
                now=self.svc.now(),
                detail=detail,
                ip=session["ip"],
            )
            attempt = outcome.attempt
            if outcome.ended_attempt:
                result = await grading.result_of(session=db, attempt=attempt)
        if outcome.kind == JoinKind.REFUSED:
            raise joining.SECOND_DEVICE_ERROR
        if outcome.ended_attempt:
            return {
                "ok": True,
                "status": attempt.status,
                "event": outcome.kind,
                "result": result.to_dict(),
            }
        # Read after the commit: a save from a replaced tab is either in here or refused.
        async with self.svc.db.read(quick=True) as db:
            answers = await attempts.answers_of(session=db, attempt_id=attempt.id)
            unread = (
                await messages.unread_for(
                    session=db, user_id=user_id, session_id=attempt.session_id
                )
                if attempt.session_id
                else []
            )
        if owner_sid and owner_sid != sid:
            if outcome.kind == JoinKind.TAKEOVER:
                await self.emit(
                    "taken_over",
                    {"message": "本场考试已在其他窗口或设备上打开，此窗口已停止作答。"},
                    to=owner_sid,
                )
            # The replaced socket (another tab, or this tab's stale connection) is closed.
            await self.disconnect(owner_sid)
        session.update(attempt_id=attempt.id, tab=request.tab, exam_session=attempt.session_id)
        now = self.svc.now()
        await self.svc.redis.set(
            live.owner_key(attempt.id),
            self._owner(sid, session),
            ex=live.owner_ttl(attempt.deadline, now),
        )
        await self.svc.redis.delete(live.offline_key(attempt.id))
        await live.remember_deadline(self.svc.redis, attempt.id, attempt.deadline, now)
        await self.enter_room(sid, live.room(attempt.id))
        if attempt.session_id:
            await self.enter_room(sid, live.session_room(attempt.session_id))
        await self.save_session(sid, session)
        self._remember(attempt)
        # Marked again now that the tab holds the paper in Redis: the row says 在线.
        self._touched(session)
        rules = papers.rules_from_json(attempt.rules)
        return {
            "ok": True,
            "status": attempt.status,
            "event": outcome.kind,
            "attempt_id": attempt.id,
            **self._clock(attempt),
            "answers": {str(q): {"value": v, "seq": s} for q, (v, s) in answers.items()},
            "max_seq": max((s for _, s in answers.values()), default=0),
            "focus": {
                "count": attempt.focus_losses,
                "warn_at": rules.focus_warn_at,
                "submit_at": rules.focus_submit_at,
                "rule": rules.focus_rule,
            },
            "messages": unread,
        }

    @replies_errors
    async def on_answer(self, sid, data):
        """Autosave one answer; the ack comes only after the commit."""
        began = time.perf_counter()
        request = schemas.AnswerIn.parse(data)
        session = await self._joined(sid)
        paper = await self._paper(session["attempt_id"], session["user_id"])
        kind = paper.get(request.question_id)
        if kind is None:
            raise AppError("unknown_question", "该题不在您的试卷中")
        try:
            value = papers.normalise(request.value, papers.PaperItem(request.question_id, *kind))
        except papers.BadValue as error:
            raise AppError("bad_value", str(error)) from None
        await self.writer.save(
            Save(
                attempt_id=session["attempt_id"],
                user_id=session["user_id"],
                tab=session["tab"],
                question_id=request.question_id,
                value=value,
                seq=request.seq,
            )
        )
        if session.get("exam_session"):
            self._touched(session)
        profiling.observe("answer", (time.perf_counter() - began) * 1000)
        return {"ok": True, "question_id": request.question_id, "seq": request.seq}

    @replies_errors
    async def on_sync(self, sid, data=None):
        """The server's time and this attempt's deadline (the page never trusts its own)."""
        session = await self._joined(sid)
        attempt_id = session["attempt_id"]
        cached = await self._sync(
            keys=[live.owner_key(attempt_id), live.deadline_key(attempt_id)],
            args=[self._owner(sid, session), 3 * 3600],
        )
        now_ms = epoch_ms(self.svc.now())
        if cached and int(cached) > now_ms:
            return {"ok": True, "status": "open", "now": now_ms, "deadline": int(cached)}
        async with self.svc.db.read(quick=True) as db:
            attempt = await attempts.get_attempt(
                session=db, attempt_id=attempt_id, user_id=session["user_id"]
            )
        if attempt.is_open and not attempt.is_running(self.svc.now()):
            # Nobody has submitted it yet (no worker running?): do it now.
            async with self.svc.db.write() as db:
                await grading.close_expired_for(
                    session=db, user_id=session["user_id"], now=self.svc.now()
                )
            async with self.svc.db.read(quick=True) as db:
                attempt = await attempts.get_attempt(
                    session=db, attempt_id=attempt_id, user_id=session["user_id"]
                )
        reply = {"ok": True, "status": attempt.status, **self._clock(attempt)}
        if attempt.is_open:
            await live.remember_deadline(
                self.svc.redis, attempt.id, attempt.deadline, self.svc.now()
            )
        else:
            async with self.svc.db.read(quick=True) as db:
                reply["result"] = (await grading.result_of(session=db, attempt=attempt)).to_dict()
        return reply

    @replies_errors
    async def on_focus(self, sid, data):
        """The page reports the learner left it (hidden tab or blurred window)."""
        state = schemas.parse_focus(data)
        session = await self._joined(sid)
        # A page that reports focus changes in a loop must not flood the database.
        last = session.get("focus_at", 0.0)
        if time.monotonic() - last < 1.0:
            return {"ok": True}
        session["focus_at"] = time.monotonic()
        await self.save_session(sid, session)
        # Answers this page sent before leaving are in the grade if the rule submits.
        await self.writer.barrier()
        async with self.svc.db.write() as db:
            outcome = await joining.record_focus_loss(
                session=db,
                attempt_id=session["attempt_id"],
                user_id=session["user_id"],
                now=self.svc.now(),
                detail=schemas.FOCUS_STATES[state],
            )
        reply = {"ok": True, "focus_losses": outcome.count}
        if outcome.warning:
            reply["warning"] = outcome.warning
        if outcome.result is not None:
            reply["result"] = outcome.result.to_dict()
        return reply

    @replies_errors
    async def on_message_read(self, sid, data):
        """The learner dismissed an invigilator's message: the invigilators see when."""
        message_id = schemas.parse_message_read(data)
        session = await self._joined(sid)
        if not session.get("exam_session"):
            raise AppError("not_found", "消息不存在", 404)
        async with self.svc.db.write() as db:
            read_at = await messages.mark_read(
                session=db,
                user_id=session["user_id"],
                session_id=session["exam_session"],
                message_id=message_id,
                now=self.svc.now(),
            )
        return {"ok": True, "message_id": message_id, "read_at": epoch_ms(read_at)}

    @replies_errors
    async def on_submit(self, sid, data=None):
        """Hand the paper in after every answer queued before it is committed."""
        session = await self._joined(sid)
        await self.writer.barrier()
        async with self.svc.db.write() as db:
            result = await grading.submit(
                session=db,
                attempt_id=session["attempt_id"],
                user_id=session["user_id"],
                now=self.svc.now(),
            )
        return {"ok": True, "result": result.to_dict()}


def register(sio: socketio.AsyncServer, svc: Services, watch: SessionWatch) -> ExamNamespace:
    """Add the /exam namespace to the server."""
    namespace = ExamNamespace(svc, watch)
    sio.register_namespace(namespace)
    return namespace
