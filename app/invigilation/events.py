"""What invigilation tells once a unit of work committed, and who it tells.

Every change the exam area announces on an attempt of a session (activity, close,
extension, void) marks the learner's row dirty, so the session's next dashboard delta
carries it (see ``live``). A message goes to the exam pages at once (``message`` on
/exam: the learner's attempt room, or the session's room) and to the session's
dashboards (``message_sent`` on /proctor); its reading marks the row dirty. An
invigilator taken off a session loses their open dashboards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from app import events
from app.clock import epoch_ms
from app.exams import live as exam_live
from app.exams.events import AttemptActivity, AttemptClosed, AttemptVoided, DeadlineMoved
from app.invigilation import live

log = logging.getLogger("safece.invigilation")


@dataclasses.dataclass(frozen=True)
class MessageSent:
    message_id: int
    session_id: int
    user_id: int | None  # None: the whole session
    text: str
    sent_at: dt.datetime
    sender_name: str
    attempt_ids: tuple[int, ...] = ()  # the addressee's open attempts in the session

    def to_page(self) -> dict[str, object]:
        """What the exam page shows in its banner."""
        return {
            "id": self.message_id,
            "text": self.text,
            "sent_at": epoch_ms(self.sent_at),
            "scope": "all" if self.user_id is None else "you",
        }

    def to_dashboard(self) -> dict[str, object]:
        return {
            "id": self.message_id,
            "uid": self.user_id,
            "text": self.text,
            "at": epoch_ms(self.sent_at),
            "sender": self.sender_name,
        }


@dataclasses.dataclass(frozen=True)
class MessageRead:
    session_id: int
    user_id: int
    message_id: int


@dataclasses.dataclass(frozen=True)
class InvigilatorRemoved:
    session_id: int
    user_id: int


def _rows(changes) -> dict[int, set[int]]:
    by_session: dict[int, set[int]] = {}
    for session_id, user_id in changes:
        if session_id is not None:
            by_session.setdefault(session_id, set()).add(user_id)
    return by_session


async def _mark(svc, changes) -> None:
    for session_id, users in _rows(changes).items():
        await live.mark_dirty(svc.redis, session_id, users)


@events.handles(AttemptActivity, DeadlineMoved, AttemptVoided, MessageRead)
async def mark_rows(svc, changed: list) -> None:
    """The learners' rows changed: the next delta of their session carries them."""
    await _mark(svc, [(c.session_id, c.user_id) for c in changed])


@events.handles(AttemptClosed)
async def mark_closed(svc, closed: list[AttemptClosed]) -> None:
    """Closed attempts (thousands at a deadline) show their result on the dashboard."""
    await _mark(svc, [(c.result.session_id, c.result.user_id) for c in closed])


@events.handles(MessageSent)
async def deliver_messages(svc, sent: list[MessageSent]) -> None:
    """The banner appears on the learners' exam pages; the dashboards list the message."""
    for m in sent:
        rooms = (
            [exam_live.session_room(m.session_id)]
            if m.user_id is None
            else [exam_live.room(a) for a in m.attempt_ids]
        )
        for room in rooms:
            await svc.emit("message", m.to_page(), room=room, namespace=exam_live.NAMESPACE)
        await svc.emit(
            "message_sent", m.to_dashboard(), room=live.room(m.session_id), namespace=live.NAMESPACE
        )


@events.handles(InvigilatorRemoved)
async def disconnect_removed(svc, removed: list[InvigilatorRemoved]) -> None:
    """An invigilator taken off a session stops receiving it at once, in any process."""
    for r in removed:
        watchers = await svc.redis.hgetall(live.watchers_key(r.session_id))
        for sid, user_id in watchers.items():
            if int(user_id) != r.user_id:
                continue
            await svc.emit(
                "revoked",
                {"message": "您已不再是该考场的监考员"},
                to=sid,
                namespace=live.NAMESPACE,
            )
            try:
                await svc.emitter.disconnect(sid, namespace=live.NAMESPACE)
            except Exception:
                log.exception("could not disconnect dashboard %s", sid)
