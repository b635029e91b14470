"""Registration fixtures: authorities, reviewers, qualification records and applicants,
and the steps of an application driven through the real services."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.certificates.models import Certificate, CertificateState
from app.registration import (
    access,
    applications,
    authorities,
    qualifications,
    registry,
    review,
    submission,
)
from app.registration.models import Application, Qualification, Registration
from tests.certificates.conftest import Certs

PERSONAL = {
    "gender": "男",
    "nation": "汉族",
    "education": "本科",
    "major": "安全工程",
    "school": "天津理工大学",
    "graduated_on": "2012-07",
    "title": "工程师",
    "mobile": "13812345678",
    "email": "zhang@example.com",
    "address": "天津市和平区南京路100号",
    "postcode": "300041",
}
EMPLOYER = {
    "name": "天津某化工集团有限公司",
    "uscc": "91110000600037341L",
    "attribute": "150",
    "address": "天津市滨海新区化工路1号",
    "postcode": "300450",
    "contact": "李主任",
    "phone": "022-12345678",
}
EXPERIENCE = {
    "start": "2012-07",
    "end": "2016-06",
    "unit": "天津某建设集团有限公司",
    "position": "安全员",
    "duty": "施工现场安全检查、隐患排查治理",
    "witness": "王五",
}


class Reg:
    """Builds registration data and drives applications through the services."""

    def __init__(self, svc, factory) -> None:
        self.svc = svc
        self.factory = factory
        self.certs = Certs(svc, factory)
        self._serial = 0

    async def authority(self, name: str = "天津市应急管理局", channel: str = "province"):
        async with self.svc.db.write() as db:
            return await authorities.create(
                session=db, name=name, channel=channel, now=self.svc.now(), actor_id=None
            )

    async def reviewer(self, authority, **fields) -> User:
        fields.setdefault("name", "周初审")
        user = await self.factory.user(roles=("reviewer",), **fields)
        async with self.svc.db.write() as db:
            await authorities.add_reviewer(
                session=db,
                authority_id=authority.id,
                id_type=user.id_type,
                number=user.id_number,
                now=self.svc.now(),
                actor_id=None,
            )
        return user

    async def final_reviewer(self, **fields) -> User:
        fields.setdefault("name", "吴终审")
        return await self.factory.user(roles=("final_reviewer",), **fields)

    async def qualification(
        self, user: User, *, category="化工安全", qualified_on=None, number=None, link=True
    ) -> Qualification:
        self._serial += 1
        qualified_on = qualified_on or (self.svc.now().date() - dt.timedelta(days=100))
        async with self.svc.db.write() as db:
            record = Qualification(
                name=user.name,
                id_type=user.id_type,
                id_number=user.id_number,
                certificate_no=number or f"ZA2024{self._serial:04d}",
                level="中级",
                category=category,
                qualified_on=qualified_on,
                user_id=user.id if link else None,
                imported_at=self.svc.now(),
            )
            db.add(record)
        return record

    async def applicant(self, *, photo=True, **fields) -> User:
        fields.setdefault("name", "张安全")
        user = await self.certs.learner(photo=photo, **fields)
        await self.qualification(user)
        return user

    async def fresh(self, user: User) -> User:
        async with self.svc.db.read() as db:
            return await db.get(User, user.id)

    async def start(self, user: User, kind: str = "initial") -> Application:
        async with self.svc.db.write() as db:
            return await applications.start(session=db, user=user, kind=kind, now=self.svc.now())

    async def application(self, user: User) -> Application | None:
        async with self.svc.db.read() as db:
            return await applications.current(session=db, user_id=user.id)

    async def fill(self, user: User, authority, *, employer=None, category="化工安全") -> None:
        """Every section of the open application, filled in correctly."""
        now = self.svc.now()
        async with self.svc.db.write() as db:
            application = await applications.get_open(session=db, user_id=user.id)
            steps = applications.STEPS[application.kind]
            await applications.save_personal(
                session=db, user=user, birth=dt.date(1990, 3, 7), form=PERSONAL, now=now
            )
            if "channel" in steps:
                await applications.save_channel(
                    session=db,
                    application=application,
                    form={
                        "channel": authority.channel,
                        "authority_id": str(authority.id),
                        "category": category,
                    },
                    now=now,
                )
            await applications.save_employer(
                session=db, application=application, form=employer or EMPLOYER, now=now
            )
            if not applications.content(application).get("experiences"):
                await applications.save_experience(
                    session=db, application=application, form=EXPERIENCE, now=now
                )

    async def submit(self, user: User):
        async with self.svc.db.write() as db:
            return await submission.submit(
                session=db,
                config=self.svc.config,
                user=await db.get(User, user.id),
                now=self.svc.now(),
            )

    async def first(self, reviewer, application_id, outcome="approve", reasons=None):
        async with self.svc.db.write() as db:
            return await review.decide_first(
                session=db,
                application_id=application_id,
                reviewer=await db.get(User, reviewer.id),
                outcome=outcome,
                reasons=reasons or {},
                now=self.svc.now(),
            )

    async def final(self, reviewer, application_id, outcome="approve", reason=""):
        async with self.svc.db.write() as db:
            return await review.decide_final(
                session=db,
                application_id=application_id,
                reviewer=await db.get(User, reviewer.id),
                outcome=outcome,
                reason=reason,
                now=self.svc.now(),
            )

    async def submitted(self, user, authority, kind: str = "initial") -> Application:
        """An application of the kind, filled in and submitted (waiting for 初审)."""
        await self.start(user, kind)
        await self.fill(user, authority)
        await self.submit(user)
        return await self.latest_application(user)

    async def registered(self, user, authority, first, final) -> Registration:
        """A full initial registration through both reviews."""
        application = await self.submitted(user, authority)
        await self.first(first, application.id)
        return await self.final(final, application.id)

    async def earned(self, user: User, minutes: int, *, issued_at=None) -> Certificate:
        """An issued continuing-education certificate of so many minutes (a passed attempt
        of its own, the row as the issuing job leaves it)."""
        attempt = await self.certs.attempt(user)
        self._serial += 1
        now = issued_at or self.svc.now()
        async with self.svc.db.write() as db:
            certificate = Certificate(
                number=f"CE2026{self._serial:06d}",
                attempt_id=attempt.id,
                user_id=user.id,
                batch_id=attempt.batch_id,
                state=CertificateState.ISSUED,
                holder_name=user.name,
                batch_name=f"继续教育第{self._serial}期",
                minutes=minutes,
                score=86.5,
                requested_at=now,
                updated_at=now,
                issued_at=now,
            )
            db.add(certificate)
        return certificate

    async def cancel(self, registration, reason: str = "聘用单位已注销", fraud: bool = False):
        async with self.svc.db.write() as db:
            return await registry.cancel(
                session=db,
                registration_id=registration.id,
                reason=reason,
                fraud=fraud,
                now=self.svc.now(),
                actor_id=None,
            )

    async def latest_application(self, user) -> Application:
        async with self.svc.db.read() as db:
            return await db.scalar(
                select(Application)
                .where(Application.user_id == user.id)
                .order_by(Application.id.desc())
                .limit(1)
            )

    async def registration(self, user) -> Registration | None:
        async with self.svc.db.read() as db:
            return await db.scalar(
                select(Registration)
                .where(Registration.user_id == user.id)
                .order_by(Registration.id.desc())
                .limit(1)
            )


@pytest.fixture
def reg(svc, factory):
    return Reg(svc, factory)


@pytest.fixture
async def world(reg):
    """An authority with its 初审 reviewer, a 终审 reviewer and a qualified applicant."""
    authority = await reg.authority()
    first = await reg.reviewer(authority)
    final = await reg.final_reviewer()
    user = await reg.applicant()
    return authority, first, final, user


__all__ = ["Reg", "access", "qualifications"]
