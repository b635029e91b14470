"""Certificates: one per passed attempt, its state in the issuing job, and what it says."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.certificates.states import DONE, STATE_LABELS, CertificateState  # noqa: F401
from app.db import Base, UTCDateTime


class Certificate(Base):
    """The certificate of one passed attempt. The unique attempt makes issuing idempotent."""

    __tablename__ = "certificates"
    __table_args__ = (Index("ix_certificates_state_updated_at", "state", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Year + random base32 + check character: printed, in the QR code and in /verify/<number>.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("exam_attempts.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(12), default=CertificateState.QUEUED)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # File name under <data dir>/certificates once issued.
    file: Mapped[str | None] = mapped_column(String(64), default=None)
    # What the PDF says, kept so that verification shows exactly what was printed.
    holder_name: Mapped[str] = mapped_column(String(50), default="")
    batch_name: Mapped[str] = mapped_column(String(100), default="")
    minutes: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    render_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    revoke_reason: Mapped[str] = mapped_column(String(200), default="")

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def pending(self) -> bool:
        return self.state in (CertificateState.QUEUED, CertificateState.RENDERING)
