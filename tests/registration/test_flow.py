"""Service tests of every transition: draft, 上报, 初审, 终审, change, renewal, re-registration."""

import datetime as dt
import json

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.errors import AppError, NotFound
from app.registration import applications, registry
from app.registration.models import Notice, Status, Submission
from tests.registration.conftest import EMPLOYER, EXPERIENCE


async def _notices(svc, user):
    async with svc.db.read() as db:
        return list(
            await db.scalars(select(Notice).where(Notice.user_id == user.id).order_by(Notice.id))
        )


async def _audit(svc, action):
    async with svc.db.read() as db:
        return list(await db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_initial__draft_submit_first_and_final_issue_a_registration(svc, reg, world, clock):
    authority, first, final, user = world
    application = await reg.start(user)
    assert application.status == Status.DRAFT and application.open_user_id == user.id
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    assert application.status == Status.SUBMITTED and application.submissions == 1
    clock.advance(days=2, hours=3)
    async with svc.db.read() as db:
        from app.registration import review

        queue = await review.first_queue(session=db, reviewer=first)
    assert [r.application.id for r in queue] == [application.id]
    assert queue[0].waited(svc.now()) == "2天3小时"
    await reg.first(first, application.id)
    registration = await reg.final(final, application.id)
    assert len(registration.number) == 14 and registry.numbers.normalise(registration.number)
    assert registration.valid_from == dt.date(2026, 3, 4)
    assert registration.valid_until == dt.date(2029, 3, 3)  # 3 years under the seed rules
    done = await reg.latest_application(user)
    assert done.status == Status.APPROVED and done.open_user_id is None
    titles = [n.title for n in await _notices(svc, user)]
    assert titles == ["初始注册申请已上报", "初审通过", "初始注册已获准"]
    assert len(await _audit(svc, "registration.first_approve")) == 1
    assert len(await _audit(svc, "registration.final_approve")) == 1
    async with svc.db.read() as db:
        result = await registry.verify(
            session=db, number=registration.number, today=dt.date(2026, 3, 5)
        )
    assert result.status == "valid" and result.masked_name == "张*全"
    async with svc.db.read() as db:
        last_day = await registry.verify(
            session=db, number=registration.number, today=registration.valid_until
        )
        after = await registry.verify(
            session=db,
            number=registration.number,
            today=registration.valid_until + dt.timedelta(days=1),
        )
    assert last_day.status == "valid" and after.status == "expired"


async def test_draft__is_kept_between_visits(svc, reg, world):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    application = await reg.application(user)
    data = applications.content(application)
    assert data["employer"]["uscc"] == EMPLOYER["uscc"] and len(data["experiences"]) == 1


async def test_experience__an_entry_is_edited_and_deleted_by_its_id(svc, reg, world):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)  # one entry: 2012-07 to 2016-06
    later = {**EXPERIENCE, "start": "2016-07", "end": "", "unit": "天津某化工集团有限公司"}

    async def change(**kwargs) -> list[dict]:
        async with svc.db.write() as db:
            application = await applications.get_open(session=db, user_id=user.id)
            if "delete" in kwargs:
                await applications.delete_experience(
                    session=db, application=application, entry_id=kwargs["delete"], now=svc.now()
                )
            else:
                await applications.save_experience(
                    session=db, application=application, now=svc.now(), **kwargs
                )
        return applications.content(await reg.application(user))["experiences"]

    entries = await change(form=later)
    first, second = entries
    assert [e["unit"] for e in entries] == ["天津某建设集团有限公司", "天津某化工集团有限公司"]
    entries = await change(form={**later, "position": "安全科科长"}, entry_id=second["id"])
    assert len(entries) == 2 and entries[1]["position"] == "安全科科长"
    # An edit that would overlap the other entry is refused and changes nothing.
    with pytest.raises(AppError):
        await change(form={**later, "start": "2015-01"}, entry_id=second["id"])
    for unknown in ({"form": later, "entry_id": "nope"}, {"delete": "nope"}):
        with pytest.raises(NotFound):
            await change(**unknown)
    entries = await change(delete=first["id"])
    assert [e["id"] for e in entries] == [second["id"]]


async def test_second_application_while_one_is_pending_is_refused(svc, reg, world):
    _, _, _, user = world
    await reg.start(user)
    with pytest.raises(AppError) as info:
        await reg.start(user)
    assert (
        info.value.code == "application_open" and "同一时间只能办理一份申请" in info.value.message
    )


async def test_return__with_reasons_then_unchanged_resubmission_is_refused(svc, reg, world):
    authority, first, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    with pytest.raises(AppError) as info:
        await reg.first(first, application.id, "return", {"employer": "   "})
    assert info.value.code == "reasons_required"
    await reg.first(first, application.id, "return", {"employer": "统一社会信用代码与营业执照不符"})
    application = await reg.application(user)
    assert application.status == Status.RETURNED
    assert json.loads(application.return_reasons) == {"employer": "统一社会信用代码与营业执照不符"}
    notices = await _notices(svc, user)
    assert "统一社会信用代码与营业执照不符" in notices[-1].body
    with pytest.raises(AppError) as info:
        await reg.submit(user)
    assert info.value.code == "unchanged" and "按退回原因修改" in info.value.message
    await reg.fill(user, authority, employer={**EMPLOYER, "uscc": "91340600MA2PBM9HXD"})
    await reg.submit(user)
    application = await reg.application(user)
    assert application.status == Status.SUBMITTED and application.submissions == 2
    async with svc.db.read() as db:
        forms = list(
            await db.scalars(
                select(Submission.form_data).where(Submission.application_id == application.id)
            )
        )
    assert [json.loads(f)["employer"]["uscc"] for f in forms] == [
        "91110000600037341L",
        "91340600MA2PBM9HXD",
    ]


async def test_final_before_first_is_refused(svc, reg, world):
    authority, _, final, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    with pytest.raises(AppError) as info:
        await reg.final(final, application.id)
    assert info.value.code == "wrong_stage" and "须先由注册机构初审" in info.value.message
    assert (await reg.application(user)).status == Status.SUBMITTED


async def test_one_person_never_decides_both_stages(svc, reg, world, factory):
    authority, _, _, user = world
    both = await factory.user(roles=("reviewer", "final_reviewer"), name="钱双岗")
    from app.registration import authorities

    async with svc.db.write() as db:
        await authorities.add_reviewer(
            session=db,
            authority_id=authority.id,
            id_type="id_card",
            number=both.id_number,
            now=svc.now(),
            actor_id=None,
        )
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    await reg.first(both, application.id)
    with pytest.raises(AppError) as info:
        await reg.final(both, application.id)
    assert info.value.code == "both_stages"
    assert (await reg.application(user)).status == Status.FIRST_APPROVED
    assert await _audit(svc, "registration.final_approve") == []


async def test_reviewer_of_another_authority_cannot_decide(svc, reg, world):
    authority, _, _, user = world
    other = await reg.authority("北京市应急管理局")
    stranger = await reg.reviewer(other, name="郑外省")
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    with pytest.raises(AppError) as info:
        await reg.first(stranger, application.id)
    assert info.value.status == 403


async def test_final_reject_needs_a_reason_and_closes_the_application(svc, reg, world):
    authority, first, final, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    await reg.first(first, application.id)
    with pytest.raises(AppError) as info:
        await reg.final(final, application.id, "reject", "")
    assert info.value.code == "reason_required"
    await reg.final(final, application.id, "reject", "工作经历不满足注册条件")
    done = await reg.latest_application(user)
    assert done.status == Status.REJECTED and done.open_user_id is None
    assert (await _notices(svc, user))[-1].title == "初始注册申请不予注册"


async def test_change__keeps_the_original_expiry_and_must_change_something(svc, reg, world, clock):
    authority, first, final, user = world
    before = await reg.registered(user, authority, first, final)
    clock.advance(days=200)
    await reg.start(user, "change")
    await reg.fill(user, authority)
    with pytest.raises(AppError) as info:
        await reg.submit(user)
    assert "变更注册须变更聘用单位或注册专业类别" in info.value.message
    await reg.fill(
        user,
        authority,
        employer={**EMPLOYER, "name": "天津新单位有限公司", "uscc": "91340600MA2PBM9HXD"},
    )
    await reg.submit(user)
    application = await reg.application(user)
    await reg.first(first, application.id)
    after = await reg.final(final, application.id)
    assert after.id == before.id and after.number == before.number
    assert after.valid_until == before.valid_until and after.employer_name == "天津新单位有限公司"


async def test_renewal__outside_its_window_is_refused(svc, reg, world, clock):
    authority, first, final, user = world
    await reg.registered(user, authority, first, final)
    clock.advance(days=300)
    with pytest.raises(AppError) as info:
        await reg.start(user, "renewal")
    assert info.value.code == "kind_not_allowed" and "最后3个月内受理" in info.value.message


async def test_renewal__without_enough_hours_says_what_is_missing(svc, reg, world, clock):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    clock.set(
        dt.datetime.combine(registration.valid_until - dt.timedelta(days=20), dt.time(2), dt.UTC)
    )
    await reg.start(user, "renewal")
    await reg.fill(user, authority)
    with pytest.raises(AppError) as info:
        await reg.submit(user)
    assert info.value.code == "ce_hours"
    assert "合计0.0学时，规定48.0学时，还差48.0学时" in info.value.message
    assert (await reg.application(user)).status == Status.DRAFT


async def test_reregistration__after_cancellation_issues_a_new_number(svc, reg, world, clock):
    authority, first, final, user = world
    old = await reg.registered(user, authority, first, final)
    async with svc.db.write() as db:
        await registry.cancel(
            session=db,
            registration_id=old.id,
            reason="聘用单位已注销",
            fraud=False,
            now=svc.now(),
            actor_id=None,
        )
    clock.advance(days=10)
    await reg.start(user, "reregistration")
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    await reg.first(first, application.id)
    new = await reg.final(final, application.id)
    assert new.number != old.number
    async with svc.db.read() as db:
        verdict = await registry.verify(session=db, number=old.number, today=dt.date(2026, 4, 1))
    assert verdict.status == "cancelled"


async def test_reregistration__barred_after_a_fraudulent_registration(svc, reg, world, clock):
    authority, first, final, user = world
    old = await reg.registered(user, authority, first, final)
    async with svc.db.write() as db:
        await registry.cancel(
            session=db,
            registration_id=old.id,
            reason="提供虚假材料",
            fraud=True,
            now=svc.now(),
            actor_id=None,
        )
    with pytest.raises(AppError) as info:
        await reg.start(user, "reregistration")
    assert "3年" not in info.value.message and "前不予注册" in info.value.message


async def test_withdraw__frees_the_person_for_another_application(svc, reg, world):
    _, _, _, user = world
    await reg.start(user)
    async with svc.db.write() as db:
        await applications.withdraw(session=db, user=user, now=svc.now())
    assert await reg.application(user) is None
    await reg.start(user)
