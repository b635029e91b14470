"""Question banks, exam policies, attempts (with their papers) and saved answers."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime
from app.exams import statuses
from app.exams.statuses import AttemptStatus


class QuestionType(enum.StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    JUDGE = "judge"


# Paper order and labels; the seed's guide lists single, multiple, then true/false counts.
TYPE_ORDER = (QuestionType.SINGLE, QuestionType.MULTIPLE, QuestionType.JUDGE)
TYPE_LABELS = {
    QuestionType.SINGLE: "单选题",
    QuestionType.MULTIPLE: "多选题",
    QuestionType.JUDGE: "判断题",
}
TYPE_SHORT = {
    QuestionType.SINGLE: "单选",
    QuestionType.MULTIPLE: "多选",
    QuestionType.JUDGE: "判断",
}


# Attempt states, endings and history kinds live in app/exams/statuses.py (the vocabulary).


class QuestionBank(Base):
    """A named set of questions; a batch's exam policy draws from one bank."""

    __tablename__ = "question_banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Question(Base):
    """One question. Options are stored in their original order, A first."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("bank_id", "stem"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(
        ForeignKey("question_banks.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(10))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of option texts
    # Original letters, sorted ("B", "ACD"); true/false questions store "T" or "F".
    answer: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text, default="")
    chapter: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ExamPolicy(Base):
    """How a batch's papers are drawn, timed, scored and supervised."""

    __tablename__ = "exam_policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), unique=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id"), index=True)
    single_count: Mapped[int] = mapped_column(Integer, default=40)
    single_points: Mapped[float] = mapped_column(Float, default=1.5)
    multiple_count: Mapped[int] = mapped_column(Integer, default=10)
    multiple_points: Mapped[float] = mapped_column(Float, default=2.0)
    judge_count: Mapped[int] = mapped_column(Integer, default=20)
    judge_points: Mapped[float] = mapped_column(Float, default=1.0)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=120)
    pass_mark: Mapped[float] = mapped_column(Float, default=60.0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    multiple_all_or_nothing: Mapped[bool] = mapped_column(Boolean, default=True)
    shuffle_options: Mapped[bool] = mapped_column(Boolean, default=True)
    # resume: reconnecting continues the paper; forfeit: leaving the page ends the attempt.
    disconnect_policy: Mapped[str] = mapped_column(String(10), default="resume")
    # takeover: a new window takes the paper and the old one is told; refuse: it is refused.
    second_device: Mapped[str] = mapped_column(String(10), default="takeover")
    # Leaving the exam page: warn the learner at the Nth time, submit the paper at the Mth
    # (0 = never). Off by default.
    focus_warn_at: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    focus_submit_at: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Whether an attempt an invigilator voids (作废) uses up one of the learner's attempts.
    void_uses_attempt: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ExamSession(Base):
    """An exam session (考场/场次) of a batch: a time inside the exam window, its learners
    (every enrolled learner, or those listed) and, in the invigilation area, its invigilators.
    An attempt started while a session runs belongs to it."""

    __tablename__ = "exam_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # True: every learner enrolled in the batch sits here; False: those listed only.
    everyone: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    def runs_at(self, now: dt.datetime) -> bool:
        return self.starts_at <= now < self.ends_at


class ExamSessionLearner(Base):
    """A learner listed for a session that does not take every enrolled learner."""

    __tablename__ = "exam_session_learners"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Attempt(Base):
    """One sitting of one learner: its paper, its server-owned deadline and its result."""

    __tablename__ = "exam_attempts"
    __table_args__ = (
        UniqueConstraint("user_id", "batch_id", "number"),
        Index("ix_exam_attempts_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    # JSON snapshots taken at the start, so later policy or bank edits change nothing here.
    rules: Mapped[str] = mapped_column(Text)
    paper: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=AttemptStatus.OPEN)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_by: Mapped[str | None] = mapped_column(String(12), default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    # JSON {question_id: [value, seq]}: exactly the answers the grade was computed from.
    graded_answers: Mapped[str | None] = mapped_column(Text, default=None)
    # The browser tab (random id kept in sessionStorage) that holds the paper.
    tab: Mapped[str] = mapped_column(String(40), default="")
    focus_losses: Mapped[int] = mapped_column(Integer, default=0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    second_devices: Mapped[int] = mapped_column(Integer, default=0)
    # The exam session (考场) the attempt was started in, if one was running.
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("exam_sessions.id", ondelete="SET NULL"), index=True, default=None
    )
    # The address of the last join, and how often a join came from a different one.
    last_ip: Mapped[str] = mapped_column(String(64), default="", server_default="")
    ip_changes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The invigilator's reason when they void the attempt or hand it in (监考强制交卷);
    # whether a voided attempt still used up one of the learner's attempts follows the
    # batch's rule at that moment.
    void_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    uses_attempt: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    @property
    def is_open(self) -> bool:
        """Still being answered (even if its deadline passed and nobody closed it yet)."""
        return self.status == AttemptStatus.OPEN

    @property
    def is_closed(self) -> bool:
        """Ended (handed in, timed out, forfeited, forced, voided): graded, no more answers."""
        return self.status == AttemptStatus.CLOSED

    @property
    def is_voided(self) -> bool:
        """Voided by an invigilator: never passed, counted nowhere, shown as 已作废."""
        return statuses.is_voided(self.ended_by)

    def is_running(self, now: dt.datetime) -> bool:
        """Open and inside its time: answers may still be saved."""
        return self.is_open and now < self.deadline


class Answer(Base):
    """The latest acknowledged answer to one question of one attempt."""

    __tablename__ = "exam_answers"

    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("exam_attempts.id", ondelete="CASCADE"), primary_key=True
    )
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    # Display letters as the learner saw them ("B", "ACD", "T"/"F"); "" means cleared.
    value: Mapped[str] = mapped_column(String(10))
    seq: Mapped[int] = mapped_column(Integer)
    saved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AttemptEvent(Base):
    """What invigilators see in an attempt's history: joins, reconnects, focus, devices."""

    __tablename__ = "exam_attempt_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("exam_attempts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(300), default="")
