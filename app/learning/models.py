"""Programme batches, their courses, videos and materials, and each learner's progress."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime


class Batch(Base):
    """A programme batch, e.g. 注册安全工程师继续教育 2026年第一期."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    required_minutes: Mapped[int] = mapped_column(Integer)
    required_public_minutes: Mapped[int] = mapped_column(Integer)
    min_study_days: Mapped[int] = mapped_column(Integer, default=10)
    study_deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    exam_opens_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    exam_closes_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Attention checks (防挂机): at a random moment every min..max minutes of credited play
    # the server asks a question a person must answer before more time is credited.
    attention_checks: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    attention_min_minutes: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    attention_max_minutes: Mapped[int] = mapped_column(Integer, default=20, server_default="20")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # Closed (结束) by an admin: no more enrolments; its study and exam ended no later than this.
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    def is_closed(self) -> bool:
        return self.closed_at is not None


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("user_id", "batch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class CourseKind(enum.StrEnum):
    PUBLIC = "public"
    PROFESSIONAL = "professional"


KIND_LABELS = {CourseKind.PUBLIC: "公共课", CourseKind.PROFESSIONAL: "专业课"}


class Course(Base):
    """A course of a batch: its videos make its minutes; past its deadline it is withdrawn."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    lecturer: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    # After this instant the course is withdrawn (下架): hidden unless completed, no credit.
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A course reused in another batch is copied there (its own progress per batch, the same
    # media files); every copy names the first course, so the copies know each other.
    origin_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="SET NULL"), default=None, index=True
    )

    videos: Mapped[list[Video]] = relationship(
        back_populates="course",
        order_by="(Video.position, Video.id)",
        cascade="all, delete-orphan",
        lazy="raise",
    )

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def withdrawn_at(self, now: dt.datetime) -> bool:
        return self.deadline is not None and now >= self.deadline


class Video(Base):
    """One video of a course; the duration is read from the file when it is added."""

    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer)
    # Path relative to the media directory (config.data_dir / "media").
    file: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A still frame (JPEG, relative to the media directory) shown before playing.
    poster: Mapped[str | None] = mapped_column(String(255), default=None)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    course: Mapped[Course] = relationship(back_populates="videos", lazy="raise")


class Material(Base):
    """A downloadable study-material archive (导学资料) of a batch, optionally of one course."""

    __tablename__ = "materials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("courses.id", ondelete="CASCADE"), default=None
    )
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    file: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class VideoProgress(Base):
    """The watched segments of one video by one learner; re-watching adds nothing."""

    __tablename__ = "video_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "video_id"),
        # Who completed which video, read without touching the rows (batch reports).
        Index(
            "ix_video_progress_completed",
            "video_id",
            "user_id",
            sqlite_where=text("completed_at IS NOT NULL"),
            postgresql_where=text("completed_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    # JSON list of disjoint, sorted [start_ms, end_ms] pairs.
    segments: Mapped[str] = mapped_column(Text, default="[]")
    watched_ms: Mapped[int] = mapped_column(Integer, default=0)
    last_position_ms: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class StudyDay(Base):
    """Credited study time of a learner in a batch on one Asia/Shanghai calendar day."""

    __tablename__ = "study_days"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    credited_ms: Mapped[int] = mapped_column(Integer, default=0)


class AttentionExemption(Base):
    """A learner an admin excused from attention checks (防挂机), e.g. one who uses a screen
    reader and cannot read an image code; the reason is shown and kept in the audit log."""

    __tablename__ = "attention_exemptions"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(String(200))
    granted_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
