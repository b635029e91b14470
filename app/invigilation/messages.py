"""Messages from invigilators to one learner or a whole session, and when they were read.

The exam page shows each message as a banner the learner must dismiss; dismissing it
records the read, which the invigilators see on the learner's row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import events
from app.accounts.models import User
from app.clock import epoch_ms
from app.errors import AppError, NotFound
from app.exams import sessions
from app.exams.models import Attempt, ExamSession
from app.exams.statuses import AttemptStatus, EventKind
from app.invigilation.events import MessageRead as MessageReadEvent
from app.invigilation.events import MessageSent
from app.invigilation.models import Message, MessageRead

TEXT_MAX = 200
NOT_A_MEMBER = "该考生不在本考场"


def check_text(text: object) -> str:
    """A message has 1 to TEXT_MAX characters."""
    value = text.strip() if isinstance(text, str) else ""
    if not value:
        raise AppError("message_empty", "请输入消息内容")
    if len(value) > TEXT_MAX:
        raise AppError("message_too_long", f"消息不能超过{TEXT_MAX}字（现为{len(value)}字）")
    return value


async def send(
    *,
    session: AsyncSession,
    exam_session: ExamSession,
    sender: User,
    user_id: int | None,
    text: str,
    now: dt.datetime,
) -> Message:
    """Store a message to one learner of the session (or to all); told after the commit."""
    text = check_text(text)
    attempt_ids: tuple[int, ...] = ()
    if user_id is not None:
        if not await sessions.is_member(
            session=session, exam_session=exam_session, user_id=user_id
        ):
            raise NotFound(NOT_A_MEMBER)
        attempt_ids = tuple(
            await session.scalars(
                select(Attempt.id).where(
                    Attempt.session_id == exam_session.id,
                    Attempt.user_id == user_id,
                    Attempt.status == AttemptStatus.OPEN,
                )
            )
        )
    message = Message(
        session_id=exam_session.id, user_id=user_id, sender_id=sender.id, text=text, sent_at=now
    )
    session.add(message)
    await session.flush()
    events.record(
        session,
        MessageSent(
            message_id=message.id,
            session_id=exam_session.id,
            user_id=user_id,
            text=text,
            sent_at=now,
            sender_name=sender.name,
            attempt_ids=attempt_ids,
        ),
    )
    return message


def _addressed_to(user_id: int):
    return or_(Message.user_id.is_(None), Message.user_id == user_id)


async def mark_read(
    *, session: AsyncSession, user_id: int, session_id: int, message_id: int, now: dt.datetime
) -> dt.datetime:
    """A learner dismissed a message's banner; returns when it was (first) read."""
    message = await session.get(Message, message_id)
    if (
        message is None
        or message.session_id != session_id
        or message.user_id not in (None, user_id)
    ):
        raise NotFound("消息不存在")
    read = await session.get(MessageRead, (message_id, user_id))
    if read is not None:
        return read.read_at
    session.add(MessageRead(message_id=message_id, user_id=user_id, read_at=now))
    await session.flush()
    events.record(
        session, MessageReadEvent(session_id=session_id, user_id=user_id, message_id=message_id)
    )
    return now


async def unread_for(
    *, session: AsyncSession, user_id: int, session_id: int
) -> list[dict[str, object]]:
    """Messages of a session to this learner (or to all) not yet dismissed, oldest first."""
    read = select(MessageRead.message_id).where(MessageRead.user_id == user_id)
    rows = await session.scalars(
        select(Message)
        .where(
            Message.session_id == session_id,
            _addressed_to(user_id),
            Message.id.not_in(read),
        )
        .order_by(Message.id)
    )
    return [
        {
            "id": m.id,
            "text": m.text,
            "sent_at": epoch_ms(m.sent_at),
            "scope": "all" if m.user_id is None else "you",
        }
        for m in rows
    ]


async def messages_of(*, session: AsyncSession, session_id: int) -> list[dict[str, object]]:
    """Every message of a session, oldest first, for its dashboards."""
    rows = await session.execute(
        select(Message, User.name)
        .outerjoin(User, User.id == Message.sender_id)
        .where(Message.session_id == session_id)
        .order_by(Message.id)
    )
    return [
        {
            "id": m.id,
            "uid": m.user_id,
            "text": m.text,
            "at": epoch_ms(m.sent_at),
            "sender": name or "",
        }
        for m, name in rows
    ]


async def reads_of(
    *, session: AsyncSession, session_id: int, user_ids: list[int] | None = None
) -> dict[int, dict[str, int]]:
    """Per learner: message id -> when it was read (epoch ms)."""
    query = (
        select(MessageRead.user_id, MessageRead.message_id, MessageRead.read_at)
        .join(Message, Message.id == MessageRead.message_id)
        .where(Message.session_id == session_id)
    )
    if user_ids is not None:
        query = query.where(MessageRead.user_id.in_(user_ids))
    found: dict[int, dict[str, int]] = {}
    for user_id, message_id, read_at in await session.execute(query):
        found.setdefault(user_id, {})[str(message_id)] = epoch_ms(read_at)
    return found


async def history_of(
    *, session: AsyncSession, session_id: int, user_id: int
) -> list[tuple[dt.datetime, str, str]]:
    """(when, kind, detail) of the messages a learner was sent and read, for the timeline."""
    rows = await session.execute(
        select(Message, MessageRead.read_at)
        .outerjoin(
            MessageRead,
            (MessageRead.message_id == Message.id) & (MessageRead.user_id == user_id),
        )
        .where(Message.session_id == session_id, _addressed_to(user_id))
    )
    found = []
    for message, read_at in rows:
        scope = "（全场）" if message.user_id is None else ""
        found.append((message.sent_at, EventKind.MESSAGE_SENT, f"{scope}{message.text}"))
        if read_at is not None:
            found.append((read_at, EventKind.MESSAGE_READ, message.text))
    return found
