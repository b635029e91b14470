"""Invigilators assigned to exam sessions, and the messages they send to learners."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class Assignment(Base):
    """An invigilator watches an exam session (assigned by an admin)."""

    __tablename__ = "exam_session_invigilators"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Message(Base):
    """A message from an invigilator to one learner of a session, or to all of them."""

    __tablename__ = "invigilation_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="CASCADE"), index=True
    )
    # None: the whole session.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    text: Mapped[str] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class MessageRead(Base):
    """A learner dismissed a message's banner: the invigilator sees when."""

    __tablename__ = "invigilation_message_reads"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("invigilation_messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
