"""People and their roles. Everyone logs in with a document type and number (居民身份证 by
default; see ``documents``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app.accounts.roles import ROLE_LABELS, Role  # noqa: F401 - the vocabulary of roles
from app.db import Base, SealedIdNumber, UTCDateTime, index_of


class User(Base):
    __tablename__ = "users"
    # The username is the pair: the same number under two types is two people.
    __table_args__ = (UniqueConstraint("id_type", "id_number_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_type: Mapped[str] = mapped_column(String(20), default="id_card", server_default="id_card")
    # Encrypted at rest; looked up by its blind index (Redis keys and logs use that too).
    id_number: Mapped[str] = mapped_column("id_number_enc", SealedIdNumber())
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(50))
    gender: Mapped[str] = mapped_column(String(2))
    work_unit: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    password_issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    phone: Mapped[str | None] = mapped_column(String(11), unique=True, default=None)
    phone_bound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    photo_file: Mapped[str | None] = mapped_column(String(64), default=None)
    photo_uploaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    tour_done: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @validates("id_number")
    def _index_id_number(self, _key: str, value: str) -> str:
        self.id_number_index = index_of(value)
        return value

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names.intersection(roles))


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")
