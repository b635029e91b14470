"""Review rights and order: only a 注册初审 of the application's own authority decides its
first stage (a 终审 sees every application but decides only the final stage); the queues
put the longest-waiting application first."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.errors import AppError
from app.registration import authorities, review
from app.registration.models import Decision, Status
from tests.factories import CSRF, login

PASSWORD = "Str0ng-Pass!"


async def _submitted(reg, authority, name="张安全"):
    user = await reg.applicant(name=name)
    return user, await reg.submitted(user, authority)


async def _decisions(svc) -> int:
    async with svc.db.read() as db:
        return await db.scalar(select(func.count(Decision.id)))


async def _final_reviewer_of_another_authority(svc, reg, factory):
    """A 终审 who is also the 注册初审 of another authority: the probe's attacker."""
    other = await reg.authority("北京市应急管理局")
    both = await factory.user(roles=("reviewer", "final_reviewer"), name="冯双岗")
    async with svc.db.write() as db:
        await authorities.add_reviewer(
            session=db,
            authority_id=other.id,
            id_type=both.id_type,
            number=both.id_number,
            now=svc.now(),
            actor_id=None,
        )
    return both


@pytest.mark.parametrize("outcome", ["approve", "return"])
async def test_first_stage__a_final_reviewer_of_another_authority_cannot_decide_it(
    svc, reg, world, factory, outcome
):
    authority, _, _, _ = world
    user, application = await _submitted(reg, authority)
    both = await _final_reviewer_of_another_authority(svc, reg, factory)
    with pytest.raises(AppError) as info:
        await reg.first(both, application.id, outcome, {"other": "材料不全"})
    assert info.value.status == 403
    assert (
        info.value.message == "初审只能由该申请所属注册机构的初审人员作出，该申请不在您的初审范围"
    )
    assert (await reg.latest_application(user)).status == Status.SUBMITTED
    assert await _decisions(svc) == 0


async def test_first_stage__a_final_reviewer_without_the_reviewer_role_cannot_either(
    svc, reg, world
):
    authority, _, final, _ = world
    user, application = await _submitted(reg, authority)
    with pytest.raises(AppError) as info:
        await reg.first(final, application.id)
    assert info.value.status == 403 and "只有注册初审人员可以进行初审" in info.value.message
    assert (await reg.application(user)).status == Status.SUBMITTED


async def test_first_stage__the_final_reviewer_still_sees_it_without_the_controls(
    client, svc, reg, world, factory
):
    authority, _, _, _ = world
    _, application = await _submitted(reg, authority)
    both = await _final_reviewer_of_another_authority(svc, reg, factory)
    await login(client, svc, both.id_number, PASSWORD)
    page = await (await client.get(f"/review/{application.id}")).get_data(as_text=True)
    assert 'id="first-form"' not in page and 'id="first-not-yours"' in page
    assert "初审由该申请所属注册机构（天津市应急管理局）的初审人员作出" in page
    response = await client.post(
        f"/review/{application.id}/first",
        form={"csrf_token": CSRF.search(page).group(1), "outcome": "approve"},
    )
    text = await response.get_data(as_text=True)
    assert response.status_code == 403 and "初审只能由该申请所属注册机构的初审人员作出" in text
    assert await _decisions(svc) == 0


async def test_first_stage__the_authority_s_own_reviewer_decides_it(svc, reg, world):
    authority, first, _, _ = world
    user, application = await _submitted(reg, authority)
    async with svc.db.read() as db:
        fresh = await db.get(type(first), first.id)
        assert await review.reviews_authority(session=db, application=application, user=fresh)
    await reg.first(first, application.id)
    assert (await reg.application(user)).status == Status.FIRST_APPROVED


async def test_queues__longest_waiting_first_and_only_the_reviewer_s_authorities(
    svc, reg, world, clock
):
    authority, first, final, _ = world
    elsewhere = await reg.authority("北京市应急管理局")
    submitted = []
    for name in ("甲一", "乙二", "丙三"):
        submitted.append((await _submitted(reg, authority, name))[1])
        clock.advance(hours=1)
    await _submitted(reg, elsewhere, "丁四")
    async with svc.db.read() as db:
        queue = await review.first_queue(session=db, reviewer=first)
    assert [r.name for r in queue] == ["甲一", "乙二", "丙三"]
    assert [r.waited(svc.now()) for r in queue] == ["3小时0分钟", "2小时0分钟", "1小时0分钟"]
    # The final queue is ordered by when each passed the first stage, not by submission.
    for application in (submitted[2], submitted[0]):
        await reg.first(first, application.id)
        clock.advance(minutes=10)
    async with svc.db.read() as db:
        final_queue = await review.final_queue(session=db)
        left = await review.first_queue(session=db, reviewer=first)
    assert [r.name for r in final_queue] == ["丙三", "甲一"]
    assert [r.waited(svc.now()) for r in final_queue] == ["20分钟", "10分钟"]
    assert [r.name for r in left] == ["乙二"]
    assert final_queue[0].since - submitted[2].submitted_at == dt.timedelta(hours=1)
