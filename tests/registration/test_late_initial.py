"""逾期初始注册: an initial registration after the rule set's window is its own kind, says
why it is 逾期, asks the continuing education the rule set sets, and issues a number."""

import datetime as dt
import json

import pytest
from sqlalchemy import update

from app.accounts.models import User
from app.errors import AppError
from app.registration import applications, rules, submission
from app.registration.models import Kind, RuleSet, Status


async def _options(svc, user):
    async with svc.db.read() as db:
        return {o.kind: o for o in await applications.options(session=db, user=user, now=svc.now())}


async def _late_applicant(reg, *, years_ago: int = 4):
    user = await reg.certs.learner(name="孙逾期")
    qualified_on = reg.svc.now().date().replace(year=reg.svc.now().year - years_ago)
    await reg.qualification(user, qualified_on=qualified_on)
    return user, qualified_on


async def test_late__offered_instead_of_initial_with_the_reason(svc, reg):
    user, qualified_on = await _late_applicant(reg)
    options = await _options(svc, user)
    assert list(options) == [Kind.LATE_INITIAL]
    late = options[Kind.LATE_INITIAL]
    assert late.ok and late.label == "逾期初始注册"
    assert late.note == (
        f"取得资格日期{rules.day_text(qualified_on)}，已超过初始注册期限3年"
        "（截至2025年3月2日），按逾期初始注册办理：须提供申请前3年内取得的本平台继续教育"
        "合格证书，合计不少于48学时。"
    )
    with pytest.raises(AppError) as info:
        await reg.start(user, "initial")
    assert info.value.code == "kind_not_allowed" and "您目前不能申请初始注册" in info.value.message


async def test_late__within_the_window_only_initial_is_offered(svc, reg, world):
    _, _, _, user = world
    assert list(await _options(svc, user)) == [Kind.INITIAL]
    with pytest.raises(AppError) as info:
        await reg.start(user, "late_initial")
    assert "您目前不能申请逾期初始注册" in info.value.message


async def test_late__asks_the_hours_then_issues_a_registration(svc, reg, world):
    authority, first, final, _ = world
    user, _ = await _late_applicant(reg)
    application = await reg.start(user, "late_initial")
    assert applications.STEPS[application.kind] == (
        "channel",
        "personal",
        "employer",
        "education",
        "experience",
        "preview",
    )
    await reg.fill(user, authority)
    await reg.earned(user, 1280)
    with pytest.raises(AppError) as info:
        await reg.submit(user)
    assert info.value.code == "ce_hours" and info.value.details["step"] == "education"
    assert "逾期初始注册须提供申请前3年（" in info.value.message
    assert "合计32.0学时，规定48.0学时，还差16.0学时" in info.value.message
    await reg.earned(user, 640)
    sub = await reg.submit(user)
    form = json.loads(sub.form)
    assert form["title"] == "注册安全工程师逾期初始注册申请表"
    assert form["late"].endswith("按逾期初始注册办理")
    assert form["education"]["label"] == "申请前3年" and form["education"]["met"]
    assert form["registration"] is None
    await reg.first(first, application.id)
    registration = await reg.final(final, application.id)
    assert registration.number and (await reg.latest_application(user)).status == Status.APPROVED


async def test_late__a_setting_of_zero_hours_asks_nothing_more(svc, reg, world):
    authority, _, _, _ = world
    async with svc.db.write() as db:
        await db.execute(update(RuleSet).values(late_initial_ce_hours=0))
    user, _ = await _late_applicant(reg)
    assert (await _options(svc, user))[Kind.LATE_INITIAL].note.endswith("按逾期初始注册办理。")
    await reg.start(user, "late_initial")
    await reg.fill(user, authority)
    await reg.submit(user)
    assert (await reg.application(user)).status == Status.SUBMITTED


async def test_late__under_the_2019_rules_five_years_are_not_late(svc, reg):
    async with svc.db.write() as db:
        await db.execute(update(RuleSet).values(is_current=False))
        await db.execute(
            update(RuleSet).where(RuleSet.code == "2019-intermediate").values(is_current=True)
        )
    user, _ = await _late_applicant(reg, years_ago=4)
    assert list(await _options(svc, user)) == [Kind.INITIAL]
    older, _ = await _late_applicant(reg, years_ago=6)
    late = (await _options(svc, older))[Kind.LATE_INITIAL]
    assert "已超过初始注册期限5年（截至2025年3月2日）" in late.note and "申请前5年内" in late.note


async def test_late__an_initial_draft_that_became_late_is_told_to_switch(svc, reg, world, clock):
    authority, _, _, _ = world
    user = await reg.certs.learner(name="周临界")
    await reg.qualification(user, qualified_on=dt.date(2023, 3, 5))
    await reg.start(user, "initial")
    await reg.fill(user, authority)
    clock.advance(days=5)
    with pytest.raises(AppError) as info:
        async with svc.db.write() as db:
            await submission.submit(
                session=db, config=svc.config, user=await db.get(User, user.id), now=svc.now()
            )
    assert info.value.code == "initial_window"
    assert "已超过初始注册期限3年（截至2026年3月5日）" in info.value.message
    assert "改为申请逾期初始注册" in info.value.message
