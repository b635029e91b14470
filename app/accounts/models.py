"""People and their roles. Everyone logs in with a document type and number (居民身份证 by
default; see ``documents``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from app.accounts.roles import ROLE_LABELS, Role  # noqa: F401 - the vocabulary of roles
from app.db import Base, UTCDateTime
from app.lib import crypto


class SealedIdNumber(TypeDecorator):
    """An ID number, stored encrypted (app/lib/crypto.py) and read back in clear.

    ``User.id_number == x`` and ``User.id_number.in_(xs)`` compare the blind index column
    beside it; nothing else can be asked of an encrypted value (no LIKE, no ordering)."""

    impl = String(120)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else crypto.seal(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else crypto.reveal(value)

    class comparator_factory(TypeDecorator.Comparator):
        def _index(self):
            return self.expr.table.c.id_number_index

        def operate(self, op, *other, **kwargs):
            if op is operators.eq:
                return self._index() == index_of(other[0])
            if op is operators.ne:
                return self._index() != index_of(other[0])
            if op is operators.in_op:
                return self._index().in_([index_of(v) for v in other[0]])
            raise NotImplementedError("ID numbers are encrypted: only whole numbers compare")


def index_of(id_number: str) -> str:
    """The blind index of an ID number (as typed: trimmed, a trailing x as X)."""
    return crypto.blind_index((id_number or "").strip().replace(" ", "").upper())


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
