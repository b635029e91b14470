"""延续注册 fed by the platform (issue 19): a registered safety engineer who also studies on
this platform. The certificates the worker issues for the exams they pass inside the
registration's validity fill 继续教育信息 by themselves; short of the cycle's 48 学时 the
renewal cannot be submitted, and the page says how much is missing; once met, it is submitted
in the window and both reviews extend the registration. The notice board warns 90 days before
expiry and announces the window (the reminder job, run as its cron would; the applicant's
own page posts them too). Years pass on the clock.

The registration and the passed exams are made through the services (their pages are walked
in the learner and registration journeys); everything the person and the reviewers see here
is driven in the pages, checked by axe-core and photographed (`look`)."""

from __future__ import annotations

import datetime as dt

from app.certificates import issuing
from app.registration import rules
from tests.e2e.conftest import browser_login, look
from tests.e2e.registration_steps import STAFF_PASSWORD, review, steps_to_preview, submit
from tests.factories import Factory
from tests.registration.conftest import Reg
from workers.registration import send_registration_reminders

PASSWORD = "Str0ng-Pass!"  # the factory's


async def passed_with_certificate(live_svc, reg: Reg, user, name: str):
    """A passed exam of a 16-学时 batch, and the certificate the worker issues for it."""
    batch = await reg.certs.batch(name=name, required_minutes=640, required_public_minutes=320)
    attempt = await reg.certs.attempt(user, batch=batch)
    assert await issuing.queue_certificates(live_svc, [attempt.id]) == 1
    return await reg.certs.wait_for(attempt.id, "issued", timeout=60)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(2), dt.UTC)  # 10:00 in Shanghai


async def reminders(live_svc) -> None:
    await send_registration_reminders({"svc": live_svc})


async def test_journey__renewal_counts_the_certificates_earned_on_the_platform(
    pages, live_svc, worker, clock
):
    redis = live_svc.redis
    reg = Reg(live_svc, Factory(live_svc))
    authority = await reg.authority()
    first = await reg.reviewer(authority, password=STAFF_PASSWORD)
    final = await reg.final_reviewer(password=STAFF_PASSWORD)
    user = await reg.applicant(name="钱延续")
    registration = await reg.registered(user, authority, first, final)
    window_opens = rules.add_months(registration.valid_until, -3) + dt.timedelta(days=1)

    # A year in, the first course of CE: 16 学时.
    clock.set(at(registration.valid_from + dt.timedelta(days=365)))
    first_certificate = await passed_with_certificate(
        live_svc, reg, user, "注册安全工程师继续教育 2027年第一期"
    )
    me = await pages.new()
    await browser_login(me, redis, user.id_number, PASSWORD)
    await me.goto("/certificates")
    assert first_certificate.number in await me.inner_text("#certificate-table")
    await look(me, "journey-renewal-01-certificates", phone=True)
    await me.goto("/registration")
    assert "延续注册在注册有效期最后3个月内受理" in await me.inner_text("#why-renewal")
    await look(me, "journey-renewal-02-home-before-window", phone=True)

    # 90 days before expiry (a day or two before the window): the job posts the reminder.
    clock.set(at(registration.valid_until - dt.timedelta(days=90)))
    await reminders(live_svc)
    await browser_login(me, redis, user.id_number, PASSWORD)  # the old session has expired
    await me.goto("/registration")
    assert "注册将于90天后期满" in await me.inner_text("#notice-board")
    await look(me, "journey-renewal-03-reminder", phone=True)

    # The window opens: the renewal, with only 16 of 48 学时, cannot be submitted.
    clock.set(at(window_opens + dt.timedelta(days=1)))
    await reminders(live_svc)
    await browser_login(me, redis, user.id_number, PASSWORD)
    await me.goto("/registration")
    assert "延续注册已开始受理" in await me.inner_text("#notice-board")
    await look(me, "journey-renewal-04-window-open", phone=True)
    await me.click("#start-renewal")
    await look(me, "journey-renewal-05-personal", phone=True)
    await me.click("#step-next")
    await look(me, "journey-renewal-06-employer", phone=True)
    await me.click("#step-next")
    assert first_certificate.number in await me.inner_text("#ce-table")
    assert "合计16.0学时，规定48.0学时，还差32.0学时" in await me.inner_text("#ce-summary")
    await look(me, "journey-renewal-07-education-short", phone=True)
    await steps_to_preview(me, "renewal-08-short")
    pages.expect(409, "/registration/apply/submit")  # the preview again, saying what is short
    await me.click("#submit-app")
    assert "继续教育学时不足" in await me.inner_text("#form-error")
    await look(me, "journey-renewal-09-refused", phone=True)

    # Two more courses passed on the platform: 48 学时, and the renewal goes through.
    numbers = [
        (await passed_with_certificate(live_svc, reg, user, name)).number
        for name in ("注册安全工程师继续教育 2029年第一期", "注册安全工程师继续教育 2029年第二期")
    ]
    await me.goto("/registration/apply/education")
    table = await me.inner_text("#ce-table")
    assert all(n in table for n in [first_certificate.number, *numbers])
    assert "合计48.0学时，规定48.0学时，已满足要求" in await me.inner_text("#ce-summary")
    await look(me, "journey-renewal-10-education-met", phone=True)
    await steps_to_preview(me, "renewal-11-met")
    await submit(me)
    clock.advance(hours=3)
    await review(pages, redis, first, "#first-approve", "renewal-12-first")
    await review(pages, redis, final, "#final-approve", "renewal-13-final")
    await me.goto("/registration")
    renewed_until = registration.valid_until.replace(year=registration.valid_until.year + 3)
    assert renewed_until.isoformat() in await me.inner_text("#reg-validity")
    await look(me, "journey-renewal-14-renewed", phone=True)
    stranger = await pages.new(phone=True)
    await stranger.goto(f"/registration/verify/{registration.number}")
    assert await stranger.locator("#verdict").get_attribute("data-status") == "valid"
    assert renewed_until.isoformat() in await stranger.inner_text("main")
    await look(stranger, "journey-renewal-15-verify", phone=True)
