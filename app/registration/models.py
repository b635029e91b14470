"""注册管理: rule sets, authorities, qualification records, registrations, applications,
their submitted forms and review decisions, and the applicant's notice board."""

from __future__ import annotations

import datetime as dt
import enum
import json

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.db import Base, SealedIdNumber, UTCDateTime, index_of
from app.registration.channels import CHANNELS


class Kind(enum.StrEnum):
    INITIAL = "initial"  # 初始注册
    LATE_INITIAL = "late_initial"  # 逾期初始注册: after the rule set's initial window
    CHANGE = "change"  # 变更注册
    RENEWAL = "renewal"  # 延续注册
    REREGISTRATION = "reregistration"  # 重新注册


KIND_LABELS = {
    Kind.INITIAL: "初始注册",
    Kind.LATE_INITIAL: "逾期初始注册",
    Kind.CHANGE: "变更注册",
    Kind.RENEWAL: "延续注册",
    Kind.REREGISTRATION: "重新注册",
}


class Status(enum.StrEnum):
    DRAFT = "draft"  # being filled in (kept between visits)
    SUBMITTED = "submitted"  # 上报: waiting for the authority's 初审
    RETURNED = "returned"  # 初审 returned it with reasons: the applicant corrects it
    FIRST_APPROVED = "first_approved"  # 初审通过: waiting for 终审
    APPROVED = "approved"  # 终审通过: registration issued or updated
    REJECTED = "rejected"  # 终审不予注册
    WITHDRAWN = "withdrawn"  # 撤销 by the applicant before review


OPEN = (Status.DRAFT, Status.SUBMITTED, Status.RETURNED, Status.FIRST_APPROVED)
STATUS_LABELS = {
    Status.DRAFT: "填写中（未上报）",
    Status.SUBMITTED: "已上报，等待初审",
    Status.RETURNED: "初审退回，请修改后重新上报",
    Status.FIRST_APPROVED: "初审通过，等待终审",
    Status.APPROVED: "终审通过，准予注册",
    Status.REJECTED: "终审不予注册",
    Status.WITHDRAWN: "已撤销",
}

# The kinds whose final approval issues a new registration number.
ISSUING = (Kind.INITIAL, Kind.LATE_INITIAL, Kind.REREGISTRATION)


class RuleSet(Base):
    """A version of the registration rules; applications record the one they ran under."""

    __tablename__ = "reg_rule_sets"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))  # the family; each edit is a new version
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(20), default="")
    initial_window_months: Mapped[int] = mapped_column(Integer)
    validity_months: Mapped[int] = mapped_column(Integer)
    renewal_window_months: Mapped[int] = mapped_column(Integer)
    ce_hours_per_cycle: Mapped[int] = mapped_column(Integer)
    # What a 逾期初始注册 (initial registration after the window) must show in addition:
    # this many 学时 of continuing education earned in the last validity period.
    late_initial_ce_hours: Mapped[int] = mapped_column(Integer, default=0)
    age_limit: Mapped[int] = mapped_column(Integer)
    fraud_bar_years: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Authority(Base):
    """注册机构: a provincial, ministry or central-enterprise body doing the 初审."""

    __tablename__ = "reg_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(12))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    @property
    def channel_label(self) -> str:
        return CHANNELS.get(self.channel, self.channel)


class AuthorityReviewer(Base):
    """A 注册初审 account reviewing for an authority."""

    __tablename__ = "reg_authority_reviewers"

    authority_id: Mapped[int] = mapped_column(
        ForeignKey("reg_authorities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Qualification(Base):
    """资格信息: one passed qualification exam, imported from the examination records."""

    __tablename__ = "reg_qualifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    id_type: Mapped[str] = mapped_column(String(20))
    # Encrypted at rest like the account's, looked up by its blind index.
    id_number: Mapped[str] = mapped_column("id_number_enc", SealedIdNumber())
    id_number_index: Mapped[str] = mapped_column(String(64), index=True)
    certificate_no: Mapped[str] = mapped_column(String(40), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    category: Mapped[str] = mapped_column(String(30))
    qualified_on: Mapped[dt.date] = mapped_column(Date)
    # Set when the person proved it is theirs (设置密码 or 注册资格信息验证).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, default=None
    )
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    @validates("id_number")
    def _index_id_number(self, _key: str, value: str) -> str:
        self.id_number_index = index_of(value)
        return value


class Person(Base):
    """The applicant's personal information (个人基本信息), kept between applications."""

    __tablename__ = "reg_people"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    email: Mapped[str] = mapped_column(String(100), default="")
    content: Mapped[str] = mapped_column(Text, default="{}")  # JSON of the other fields
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Registration(Base):
    """An issued registration (执业注册): its number and validity, kept up to date by
    approved changes and renewals; a re-registration issues a new one."""

    __tablename__ = "reg_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    holder_name: Mapped[str] = mapped_column(String(50))
    qualification_id: Mapped[int | None] = mapped_column(
        ForeignKey("reg_qualifications.id", ondelete="SET NULL"), default=None
    )
    authority_id: Mapped[int] = mapped_column(ForeignKey("reg_authorities.id"))
    category: Mapped[str] = mapped_column(String(30))
    employer_name: Mapped[str] = mapped_column(String(200))
    employer_uscc: Mapped[str] = mapped_column(String(18))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date, index=True)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("reg_rule_sets.id"))
    # The day its next dated notice (公告信息) falls due; NULL once there are none
    # (app/registration/reminders.py): the worker's minute reads only the rows due.
    next_notice_on: Mapped[dt.date | None] = mapped_column(Date, index=True, default=None)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    fraud: Mapped[bool] = mapped_column(Boolean, default=False)  # obtained by deception
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Application(Base):
    """One application of a kind, from draft to decision."""

    __tablename__ = "reg_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The person's user id while the application is open, NULL once it is closed: the
    # unique constraint allows one application in progress per person, whatever races.
    open_user_id: Mapped[int | None] = mapped_column(Integer, unique=True, default=None)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("reg_rule_sets.id"))
    qualification_id: Mapped[int | None] = mapped_column(
        ForeignKey("reg_qualifications.id", ondelete="SET NULL"), default=None
    )
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("reg_registrations.id", ondelete="SET NULL"), default=None
    )
    authority_id: Mapped[int | None] = mapped_column(
        ForeignKey("reg_authorities.id"), default=None, index=True
    )
    channel: Mapped[str] = mapped_column(String(12), default="")
    category: Mapped[str] = mapped_column(String(30), default="")
    # JSON of the sections filled in (employer, experiences, education).
    content: Mapped[str] = mapped_column(Text, default="{}")
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    submitted_digest: Mapped[str] = mapped_column(String(64), default="")
    return_reasons: Mapped[str] = mapped_column(Text, default="{}")  # section -> reason
    final_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    first_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    final_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def editable(self) -> bool:
        return self.status in (Status.DRAFT, Status.RETURNED)


class Submission(Base):
    """An application form exactly as it was submitted (上报), for the history."""

    __tablename__ = "reg_submissions"
    __table_args__ = (UniqueConstraint("application_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("reg_applications.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    # JSON of everything the printed form shows but the ID number, which is sealed apart
    # like the account's (``form`` puts it back).
    form_data: Mapped[str] = mapped_column("form", Text)
    id_number: Mapped[str] = mapped_column("id_number_enc", SealedIdNumber())
    digest: Mapped[str] = mapped_column(String(64))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    @staticmethod
    def split(form: dict) -> tuple[str, str]:
        """A form as stored: (its JSON without the ID number, the number)."""
        rest = {k: v for k, v in form.items() if k != "id_number"}
        return json.dumps(rest, ensure_ascii=False, sort_keys=True), form["id_number"]

    @property
    def form(self) -> str:
        """The form as it was submitted (JSON), the ID number in it."""
        return json.dumps(
            {**json.loads(self.form_data), "id_number": self.id_number},
            ensure_ascii=False,
            sort_keys=True,
        )


class Decision(Base):
    """One reviewer's decision on one stage of an application."""

    __tablename__ = "reg_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("reg_applications.id", ondelete="CASCADE"), index=True
    )
    submission_id: Mapped[int] = mapped_column(ForeignKey("reg_submissions.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(8))  # first / final
    outcome: Mapped[str] = mapped_column(String(8))  # approve / return / reject
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reasons: Mapped[str] = mapped_column(Text, default="{}")
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Notice(Base):
    """公告信息: one message on the applicant's notice board."""

    __tablename__ = "reg_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text, default="")
    application_id: Mapped[int | None] = mapped_column(
        ForeignKey("reg_applications.id", ondelete="CASCADE"), default=None
    )
    # Reminders sent by the worker carry a key, so that sending one twice is impossible.
    key: Mapped[str | None] = mapped_column(String(80), unique=True, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
