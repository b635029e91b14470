import datetime as dt

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.admin import service
from app.audit import service as audit
from app.audit.models import AuditEntry
from app.errors import AppError
from app.learning.models import Enrolment
from app.lib.paging import Page
from app.profile import service as profile
from tests.admin.conftest import jpeg, person_id
from tests.factories import Factory


async def enrol(svc, user, batch):
    async with svc.db.write() as db:
        db.add(Enrolment(user_id=user.id, batch_id=batch.id, enrolled_at=svc.now()))


async def entries(svc):
    async with svc.db.read() as db:
        return (await db.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()


async def change(svc, user_id, work):
    """Run one admin change in its own transaction, as a route does."""
    async with svc.db.write() as db:
        user = await db.get(User, user_id)
        return await work(db, user)


async def test_overview__counts_learners_batches_enrolments_and_missing_data(svc, factory):
    batch = await Factory(svc).batch()
    first = await factory.user()
    await factory.user()
    await factory.user(roles=("admin",))
    await enrol(svc, first, batch)
    async with svc.db.write() as db:
        user = await db.get(User, first.id)
        await profile.upload_photo(
            session=db, config=svc.config, now=svc.now(), user=user, data=jpeg()
        )
        await profile.set_phone(session=db, user=user, phone="13800000001", now=svc.now())
    async with svc.db.read() as db:
        counts = await service.overview(session=db)
    assert (counts.learners, counts.batches, counts.enrolments) == (2, 1, 1)
    assert (counts.photos_missing, counts.phones_unbound, counts.initial_passwords) == (1, 1, 0)


async def test_search_users__matches_a_whole_id_or_part_of_name_or_work_unit(svc, factory):
    a = await factory.user(name="张安全", work_unit="天津港集团", id_number=person_id())
    b = await factory.user(name="李监察", work_unit="渤海化工", id_number=person_id())

    async def find(**kw):
        async with svc.db.read() as db:
            return [u.id for u in (await service.search_users(session=db, **kw)).items]

    assert await find(query="安全") == [a.id]
    assert await find(query="化工") == [b.id]
    assert await find(query=b.id_number) == [b.id]
    # ID numbers are encrypted at rest: a part of one finds nothing.
    assert await find(query=b.id_number[-8:]) == []
    assert await find(query="%") == []  # wildcards are matched literally
    assert await find() == [b.id, a.id]  # newest first


async def test_search_users__lowercase_x_finds_the_id(svc, factory):
    from app.accounts import idcard

    first17 = next(
        f"11010519800101{n:03d}"
        for n in range(1000)
        if idcard.check_digit(f"11010519800101{n:03d}") == "X"
    )
    user = await factory.user(id_number=first17 + "X")
    async with svc.db.read() as db:
        page = await service.search_users(session=db, query=f" {user.id_number.lower()} ")
    assert [u.id for u in page.items] == [user.id]


async def test_search_users__filters_by_batch_role_and_status(svc, factory):
    batch = await Factory(svc).batch()
    enrolled = await factory.user()
    other = await factory.user(password=None)
    staff = await factory.user(roles=("invigilator",))
    await enrol(svc, enrolled, batch)

    async def find(**kw):
        async with svc.db.read() as db:
            return {u.id for u in (await service.search_users(session=db, **kw)).items}

    assert await find(batch_id=batch.id) == {enrolled.id}
    assert await find(role="invigilator") == {staff.id}
    assert await find(role="learner", status="initial_password") == {other.id}
    assert await find(status="no_photo") == {enrolled.id, other.id, staff.id}


async def test_search_users__pages(svc, factory):
    for _ in range(5):
        await factory.user()
    async with svc.db.read() as db:
        second = await service.search_users(session=db, page=2, per_page=2)
        beyond = await service.search_users(session=db, page=99, per_page=2)
    assert (second.total, second.pages, len(second.items)) == (5, 3, 2)
    assert beyond.number == 3 and len(beyond.items) == 1


def test_page__window_stays_within_the_pages():
    assert Page.of(1, 10, 0).pages == 1
    assert Page.of(10, 10, 1000).window() == [7, 8, 9, 10, 11, 12, 13]
    assert Page.of(1, 10, 30).window() == [1, 2, 3]
    assert Page.of(100, 10, 1000).window() == [94, 95, 96, 97, 98, 99, 100]


async def test_reset_photo__clears_the_photo_and_returns_the_old_file(svc, factory):
    admin, learner = await factory.user(roles=("admin",)), await factory.user()
    actor = service.Actor(admin.id, "10.1.1.1")
    async with svc.db.write() as db:
        user = await db.get(User, learner.id)
        await profile.upload_photo(
            session=db, config=svc.config, now=svc.now(), user=user, data=jpeg()
        )
    old = await change(
        svc,
        learner.id,
        lambda db, u: service.reset_photo(
            session=db, config=svc.config, now=svc.now(), actor=actor, user=u
        ),
    )
    assert old is not None and old.exists()  # deleting is the caller's job, after commit
    async with svc.db.read() as db:
        assert (await db.get(User, learner.id)).photo_file is None
    [entry] = await entries(svc)
    assert (entry.action, entry.actor_id, entry.target_user_id, entry.ip) == (
        "learner.photo_reset",
        admin.id,
        learner.id,
        "10.1.1.1",
    )


async def test_reset_photo__without_a_photo_is_refused(svc, factory):
    learner = await factory.user()
    with pytest.raises(AppError, match="尚未上传照片"):
        await change(
            svc,
            learner.id,
            lambda db, u: service.reset_photo(
                session=db, config=svc.config, now=svc.now(), actor=service.Actor(None), user=u
            ),
        )
    assert await entries(svc) == []


async def set_phone(svc, user_id, phone, actor_id=None):
    await change(
        svc,
        user_id,
        lambda db, u: service.set_phone(
            session=db, now=svc.now(), actor=service.Actor(actor_id), user=u, phone=phone
        ),
    )


async def test_set_phone__changes_then_clears_with_audit_entries(svc, factory):
    learner = await factory.user()
    await set_phone(svc, learner.id, "13800000001")
    await set_phone(svc, learner.id, "13900000002")
    await set_phone(svc, learner.id, None)
    async with svc.db.read() as db:
        user = await db.get(User, learner.id)
    assert user.phone is None and user.phone_bound_at is None
    log = await entries(svc)
    assert [e.action for e in log] == [
        "learner.phone_set",
        "learner.phone_set",
        "learner.phone_clear",
    ]
    assert log[1].detail == "手机号由 13800000001 改为 13900000002"


@pytest.mark.parametrize(
    ("phone", "message"),
    [("12345", "正确的11位手机号码"), ("13800000001", "相同"), ("13800000009", "已被其他账号绑定")],
)
async def test_set_phone__bad_phone_is_refused_and_changes_nothing(svc, factory, phone, message):
    learner, other = await factory.user(), await factory.user()
    await set_phone(svc, learner.id, "13800000001")
    await set_phone(svc, other.id, "13800000009")
    with pytest.raises(AppError, match=message):
        await set_phone(svc, learner.id, phone)
    async with svc.db.read() as db:
        assert (await db.get(User, learner.id)).phone == "13800000001"
    assert len(await entries(svc)) == 2


async def test_set_phone__clearing_an_unbound_phone_is_refused(svc, factory):
    learner = await factory.user()
    with pytest.raises(AppError, match="尚未绑定手机号"):
        await set_phone(svc, learner.id, "")


async def test_reissue_password__restores_the_initial_password(svc, factory, clock):
    learner = await factory.user()
    clock.advance(days=3)
    await change(
        svc,
        learner.id,
        lambda db, u: service.reissue_password(
            session=db, config=svc.config, now=svc.now(), actor=service.Actor(None), user=u
        ),
    )
    async with svc.db.read() as db:
        user = await db.get(User, learner.id)
    assert user.must_change_password and user.password_issued_at == svc.now()
    assert [e.action for e in await entries(svc)] == ["learner.password_reissue"]


async def set_active(svc, user_id, active, actor_id):
    await change(
        svc,
        user_id,
        lambda db, u: service.set_active(
            session=db, now=svc.now(), actor=service.Actor(actor_id), user=u, active=active
        ),
    )


async def test_set_active__deactivates_and_activates(svc, factory):
    admin, learner = await factory.user(roles=("admin",)), await factory.user()
    await set_active(svc, learner.id, False, admin.id)
    with pytest.raises(AppError, match="已停用"):
        await set_active(svc, learner.id, False, admin.id)
    await set_active(svc, learner.id, True, admin.id)
    assert [e.action for e in await entries(svc)] == ["learner.deactivate", "learner.activate"]


async def test_set_active__an_admin_cannot_deactivate_themselves(svc, factory):
    admin = await factory.user(roles=("admin",))
    with pytest.raises(AppError, match="不能停用自己的账号"):
        await set_active(svc, admin.id, False, admin.id)


async def set_roles(svc, user_id, roles, actor_id):
    await change(
        svc,
        user_id,
        lambda db, u: service.set_roles(
            session=db, now=svc.now(), actor=service.Actor(actor_id), user=u, roles=roles
        ),
    )


async def test_set_roles__replaces_roles_and_records_the_change(svc, factory):
    admin, learner = await factory.user(roles=("admin",)), await factory.user()
    await set_roles(svc, learner.id, ["learner", "invigilator"], admin.id)
    await set_roles(svc, learner.id, ["invigilator"], admin.id)
    async with svc.db.read() as db:
        assert (await db.get(User, learner.id)).role_names == {"invigilator"}
    log = await entries(svc)
    assert log[0].detail == "角色由 学员 改为 学员、监考员"
    assert log[1].detail == "角色由 学员、监考员 改为 监考员"


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ([], "至少选择一个角色"),
        (["learner", "root"], "未知角色：root"),
        (["learner"], "角色没有变化"),
    ],
)
async def test_set_roles__bad_choice_is_refused(svc, factory, roles, message):
    admin, learner = await factory.user(roles=("admin",)), await factory.user()
    with pytest.raises(AppError, match=message):
        await set_roles(svc, learner.id, roles, admin.id)
    assert await entries(svc) == []


async def test_set_roles__an_admin_cannot_drop_their_own_admin_role(svc, factory):
    admin = await factory.user(roles=("admin", "learner"))
    with pytest.raises(AppError, match="不能取消自己的管理员角色"):
        await set_roles(svc, admin.id, ["learner"], admin.id)
    other = await factory.user(roles=("admin",))
    await set_roles(svc, other.id, ["learner"], admin.id)  # another admin's role may go


async def test_audit_get_all__newest_first_with_names_and_filters(svc, factory, clock):
    admin, learner = await factory.user(roles=("admin",), name="王管理"), await factory.user()
    async with svc.db.write() as db:
        await audit.record(
            session=db,
            now=svc.now(),
            actor_id=admin.id,
            action="learner.roles",
            target_user_id=learner.id,
            detail="a",
            ip="1.1.1.1",
        )
        clock.advance(minutes=1)
        # Written by an older version under a code nobody declares any more.
        db.add(AuditEntry(at=svc.now(), actor_id=None, action="legacy.thing", detail=""))
    async with svc.db.read() as db:
        everything = await audit.get_all(session=db)
        roles_only = await audit.get_all(session=db, action="learner.roles")
        for_learner = await audit.get_all(session=db, target_user_id=learner.id)
        actions = await audit.filter_actions(session=db)
    assert [v.entry.action for v in everything.items] == ["legacy.thing", "learner.roles"]
    assert everything.items[1].actor_name == "王管理" and everything.items[1].label == "修改角色"
    assert everything.items[0].label == "legacy.thing"  # unknown codes show as they are
    assert roles_only.total == 1 and for_learner.total == 1
    assert actions[0] == "learner.create" and actions[-1] == "legacy.thing"


async def test_audit_record__is_undone_with_its_transaction(svc, factory):
    with pytest.raises(RuntimeError):
        async with svc.db.write() as db:
            await audit.record(session=db, now=svc.now(), actor_id=None, action="learner.roles")
            raise RuntimeError("the action failed")
    assert await entries(svc) == []


async def test_enrolments_of__lists_batches_newest_first(svc, factory, clock):
    learner = await factory.user()
    first = await Factory(svc).batch("第一期")
    await enrol(svc, learner, first)
    clock.advance(days=1)
    second = await Factory(svc).batch("第二期")
    await enrol(svc, learner, second)
    async with svc.db.read() as db:
        found = await service.enrolments_of(session=db, user_id=learner.id)
    assert [e.batch.name for e in found] == ["第二期", "第一期"]
    assert found[0].enrolled_at == svc.now() and found[1].enrolled_at == svc.now() - dt.timedelta(
        days=1
    )
