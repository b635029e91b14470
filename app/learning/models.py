"""Programme batches and who is enrolled in them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Enrolment(Base):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("user_id", "batch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    enrolled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
