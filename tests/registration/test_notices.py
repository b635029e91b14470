"""公告信息: every change of an application's or a registration's state reaches the
applicant's board, with the reason where a person gave one; the dated reminders are posted
when they fall due (the minute a renewal window opens), each once."""

import datetime as dt

from sqlalchemy import select

from app.clock import SHANGHAI
from app.registration import reminders, rules
from app.registration.models import Notice
from tests.factories import login
from workers.registration import send_registration_reminders


async def _board(svc, user) -> list[Notice]:
    async with svc.db.read() as db:
        return list(
            await db.scalars(select(Notice).where(Notice.user_id == user.id).order_by(Notice.id))
        )


async def _run_job(svc) -> int:
    return await send_registration_reminders({"svc": svc})


def _local(day: dt.date, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI).astimezone(dt.UTC)


async def test_every_state_change__posts_with_the_reasons_given(svc, reg, world):
    authority, first, final, user = world
    application = await reg.submitted(user, authority)
    await reg.first(first, application.id, "return", {"employer": "聘用单位联系电话无法接通"})
    await reg.fill(user, authority, employer={**_employer(), "phone": "022-87654321"})
    await reg.submit(user)
    await reg.first(first, application.id)
    registration = await reg.final(final, application.id)
    await reg.cancel(registration, "本人申请注销：已调离安全生产岗位")
    board = await _board(svc, user)
    assert [n.kind for n in board] == [
        "submitted",
        "first_return",
        "submitted",
        "first_approve",
        "final_approve",
        "cancelled",
    ]
    assert [n.title for n in board] == [
        "初始注册申请已上报",
        "申请被退回，请修改后重新上报",
        "初始注册申请已重新上报",
        "初审通过",
        "初始注册已获准",
        "注册已注销",
    ]
    assert "退回原因：聘用单位信息：聘用单位联系电话无法接通" in board[1].body
    assert registration.number in board[4].body
    assert board[5].body == (
        f"您的注册（编号 {registration.number}）已于2026年3月2日被注销。"
        "注销原因：本人申请注销：已调离安全生产岗位。如符合注册条件，可申请重新注册。"
    )


async def test_final_reject__posts_the_reason(svc, reg, world):
    authority, first, final, user = world
    application = await reg.submitted(user, authority)
    await reg.first(first, application.id)
    await reg.final(final, application.id, "reject", "工作经历与聘用单位证明不符")
    last = (await _board(svc, user))[-1]
    assert (last.kind, last.title) == ("final_reject", "初始注册申请不予注册")
    assert last.body.endswith("理由：工作经历与聘用单位证明不符")


async def test_cancel_for_fraud__says_until_when_no_registration_is_granted(svc, reg, world):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    await reg.cancel(registration, "提供虚假工作经历证明", fraud=True)
    last = (await _board(svc, user))[-1]
    assert "注销原因：提供虚假工作经历证明。" in last.body
    assert last.body.endswith("因以欺骗等不正当手段取得注册，2029年3月2日前不予注册。")


async def test_renewal_window__the_job_posts_it_the_minute_it_opens_and_once(
    svc, reg, world, clock
):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    async with svc.db.read() as db:
        rule_set = await rules.current(session=db)
    opens = rules.renewal_window(rule_set, registration.valid_until).opens
    before = len(await _board(svc, user))

    clock.set(_local(opens) - dt.timedelta(minutes=1))
    posted_before = await _run_job(svc)
    clock.set(_local(opens))
    assert await _run_job(svc) == 1
    assert await _run_job(svc) == 0
    board = (await _board(svc, user))[before:]
    assert board[-1].kind == "renewal_open" and board[-1].title == "延续注册已开始受理"
    assert board[-1].created_at == _local(opens)
    assert f"（{rules.day_text(opens)}至{rules.day_text(registration.valid_until)}）" in (
        board[-1].body
    )
    # The day before, the 90-day reminder was due (3 months hold 89 to 92 days).
    assert posted_before == len(board) - 1


async def test_reminders__90_and_30_days_before_expiry_then_expiry_each_once(
    svc, reg, world, clock
):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    until = registration.valid_until
    seen = []
    for day, expected in (
        (until - dt.timedelta(days=120), None),
        (until - dt.timedelta(days=90), "expiry_90"),
        (until - dt.timedelta(days=85), "renewal_open"),
        (until - dt.timedelta(days=85), None),
        (until - dt.timedelta(days=30), "expiry_30"),
        (until, None),
        (until + dt.timedelta(days=1), "expired"),
        (until + dt.timedelta(days=2), None),
    ):
        clock.set(_local(day, 0, 1))
        async with svc.db.read() as db:
            due = await reminders.due_all(session=db, now=svc.now())
        assert [d.kind for d in due] == ([expected] if expected else []), day
        await _run_job(svc)
        seen.append(expected)
    board = [n for n in await _board(svc, user) if n.key]
    assert [n.kind for n in board] == [k for k in seen if k]
    assert board[0].title == "注册将于90天后期满"
    assert "延续注册自" in board[0].body and "起受理" in board[0].body
    assert board[2].title == "注册将于30天后期满" and "请尽快申请" in board[2].body
    assert board[3].title == f"注册已于{rules.day_text(until)}期满"
    assert "请申请重新注册" in board[3].body


async def test_reminders__none_while_a_renewal_is_under_review(svc, reg, world, clock):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    clock.set(_local(registration.valid_until - dt.timedelta(days=40), 10))
    await reg.earned(user, 1920)
    await reg.submitted(user, authority, "renewal")
    clock.set(_local(registration.valid_until - dt.timedelta(days=30), 10))
    assert await _run_job(svc) == 0
    async with svc.db.read() as db:
        assert await reminders.due_for(session=db, user_id=user.id, now=svc.now()) is None


async def test_reminders__only_a_person_s_latest_registration_and_not_cancelled_ones(
    svc, reg, world, clock
):
    authority, first, final, user = world
    old = await reg.registered(user, authority, first, final)
    await reg.cancel(old)
    clock.advance(days=200)
    application = await reg.submitted(user, authority, "reregistration")
    await reg.first(first, application.id)
    new = await reg.final(final, application.id)
    assert new.valid_until - old.valid_until == dt.timedelta(days=200)
    clock.set(_local(old.valid_until - dt.timedelta(days=30), 10))
    assert await _run_job(svc) == 0
    clock.set(_local(new.valid_until - dt.timedelta(days=30), 10))
    async with svc.db.read() as db:
        due = await reminders.due_all(session=db, now=svc.now())
    assert [(d.kind, d.key) for d in due] == [
        ("expiry_30", f"reg{new.id}:{new.valid_until.isoformat()}:expiry_30")
    ]


def _employer() -> dict:
    from tests.registration.conftest import EMPLOYER

    return dict(EMPLOYER)


async def test_renewal_window__the_applicant_s_page_shows_it_the_minute_it_opens(
    client, svc, reg, world, clock
):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    async with svc.db.read() as db:
        rule_set = await rules.current(session=db)
    opens = rules.renewal_window(rule_set, registration.valid_until).opens
    clock.set(_local(opens))
    await login(client, svc, user.id_number, "Str0ng-Pass!")
    page = await (await client.get("/registration")).get_data(as_text=True)
    assert "延续注册已开始受理" in page and 'id="start-renewal"' in page
    # Read again, or by the worker meanwhile: still one notice.
    await client.get("/registration/history")
    assert await _run_job(svc) == 0
    kinds = [n.kind for n in await _board(svc, user)]
    assert kinds.count("renewal_open") == 1


async def test_due_notices__none_on_the_page_before_they_fall_due(client, svc, reg, world, clock):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    clock.set(_local(registration.valid_until - dt.timedelta(days=200)))
    await login(client, svc, user.id_number, "Str0ng-Pass!")
    await client.get("/registration")
    assert [n for n in await _board(svc, user) if n.key] == []


async def test_next_notice_day__set_at_issue_moved_on_by_each_notice_cleared_by_cancel(
    svc, reg, world, clock
):
    authority, first, final, user = world
    registration = await reg.registered(user, authority, first, final)
    until = registration.valid_until
    async with svc.db.read() as db:
        rule_set = await rules.current(session=db)
    days = [day for day, _ in rules.notice_days(rule_set, until)]
    assert registration.next_notice_on == days[0] == until - dt.timedelta(days=90)
    clock.set(_local(days[0], 0, 5))
    assert await _run_job(svc) == 1
    assert (await reg.registration(user)).next_notice_on == days[1]
    # A minute later the worker finds no row whose day has come.
    clock.advance(minutes=1)
    async with svc.db.read() as db:
        assert await reminders.due_all(session=db, now=svc.now()) == []
    await reg.cancel(await reg.registration(user))
    assert (await reg.registration(user)).next_notice_on is None
