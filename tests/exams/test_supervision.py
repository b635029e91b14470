"""What invigilation changes in the exam area: the focus-loss rule, voiding and its effect on
chances left, IP changes, disconnects, and how 考试记录 names each ending."""

from __future__ import annotations

import pytest

from app.errors import AppError
from app.exams import eligibility, grading, joining, policies, records, voiding
from app.exams.statuses import EndedBy
from tests.exams.conftest import SMALL


async def _focus(svc, attempt):
    async with svc.db.write() as db:
        return await joining.record_focus_loss(
            session=db, attempt_id=attempt.id, user_id=attempt.user_id, now=svc.now(), detail="x"
        )


async def _void(svc, attempt, reason="作弊"):
    async with svc.db.write() as db:
        return await voiding.void_attempt(
            session=db, attempt_id=attempt.id, reason=reason, now=svc.now()
        )


async def test_focus_rule__warns_at_n_and_submits_at_m(svc, exams):
    batch = await exams.batch(policy={**SMALL, "focus_warn_at": 2, "focus_submit_at": 4})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    await exams.save(attempt, await exams.key(attempt))
    first = await _focus(svc, attempt)
    assert (first.count, first.warning, first.result) == (1, "", None)
    second = await _focus(svc, attempt)
    assert (
        second.warning.startswith("您已第 2 次离开考试页面") and "您还可离开 1 次" in second.warning
    )
    third = await _focus(svc, attempt)
    assert "再离开一次，系统将自动交卷" in third.warning
    fourth = await _focus(svc, attempt)
    assert fourth.result is not None and fourth.result.ended_by == EndedBy.FOCUS_LOST
    assert fourth.result.score == 100 and fourth.result.passed
    assert "离开考试页面的次数已达上限，系统已自动交卷" in fourth.result.message
    assert (await _focus(svc, attempt)).count == 4  # closed: no longer counted


async def test_focus_rule__off_by_default_only_counts(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    for n in range(1, 6):
        outcome = await _focus(svc, attempt)
        assert (outcome.count, outcome.warning, outcome.result) == (n, "", None)


async def test_focus_rule__is_the_one_the_learner_saw_at_the_start(svc, exams):
    batch = await exams.batch(policy={**SMALL, "focus_submit_at": 2})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        await policies.set_policy(
            session=db,
            batch_id=batch.batch.id,
            bank_id=batch.bank_id,
            now=svc.now(),
            focus_submit_at=0,
        )
    await _focus(svc, attempt)
    assert (await _focus(svc, attempt)).result is not None


async def test_void__not_counted_when_the_batch_says_so(svc, exams):
    batch = await exams.batch(policy={**SMALL, "max_attempts": 1, "void_uses_attempt": False})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    result = await _void(svc, attempt)
    assert result.attempts_left == 1 and "本次考试不计入考试次数" in result.message
    async with svc.db.read() as db:
        elig = await eligibility.eligibility(
            session=db, user_id=user.id, batch_id=batch.batch.id, now=svc.now()
        )
    assert elig.can_start and elig.attempts_used == 0 and elig.next_number == 2
    second = await exams.start(user, batch)
    assert second.number == 2


async def test_void__counted_by_default_uses_up_the_last_chance(svc, exams):
    batch = await exams.batch(policy={**SMALL, "max_attempts": 1})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    result = await _void(svc, attempt)
    assert result.attempts_left == 0 and "考试机会已用完" in result.message
    with pytest.raises(AppError, match="考试机会已用完"):
        await exams.start(user, batch)


async def test_void__without_a_reason_changes_nothing(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    with pytest.raises(AppError, match="请填写作废原因"):
        await _void(svc, attempt, reason="   ")
    with pytest.raises(AppError, match="作废原因不能超过200字"):
        await _void(svc, attempt, reason="长" * 201)
    assert (await exams.reload(attempt)).is_open


async def test_records__name_forced_and_voided_endings(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    first = await exams.start(user, batch)
    async with svc.db.write() as db:
        await grading.force_submit(session=db, attempt_id=first.id, now=svc.now())
    clock.advance(minutes=1)
    second = await exams.start(user, batch)
    await _void(svc, second, reason="替考")
    async with svc.db.read() as db:
        rows = await records.records(session=db, user_id=user.id)
    assert [(r.ended_label, r.result_label, r.score_text) for r in rows] == [
        ("已作废", "已作废", "—"),
        ("监考强制交卷", "不合格", "0"),
    ]
    assert rows[0].void_note == "作废原因：替考（计入考试次数）"


async def test_join__a_new_address_counts_as_an_ip_change(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2"):
        async with svc.db.write() as db:
            outcome = await joining.join(
                session=db,
                attempt_id=attempt.id,
                user_id=user.id,
                tab="tab-aaaaaaaa",
                other_tab_connected=False,
                now=svc.now(),
                ip=ip,
            )
    assert (outcome.attempt.ip_changes, outcome.attempt.last_ip) == (1, "10.0.0.2")


async def test_disconnect__recorded_only_while_the_attempt_is_open(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        assert await joining.record_disconnect(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
        )
    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now())
    async with svc.db.write() as db:
        assert not await joining.record_disconnect(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
        )
