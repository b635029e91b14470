import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from app.errors import AppError, NotFound
from app.exams import answers, attempts, eligibility, grading, joining, policies, records
from app.exams.models import Answer, Attempt, AttemptEvent
from app.exams.statuses import EndedBy
from app.services import build_services
from tests.exams.conftest import SMALL, graded, paper_of


async def _eligibility(svc, user, batch):
    async with svc.db.read() as db:
        return await eligibility.eligibility(
            session=db, user_id=user.id, batch_id=batch.batch.id, now=svc.now()
        )


# ------------------------------------------------------------------ eligibility


async def test_eligibility__says_exactly_what_is_missing(svc, exams):
    batch = await exams.batch(min_study_days=3)
    user = await exams.learner(batch)
    elig = await _eligibility(svc, user, batch)
    assert elig.reasons == [
        "总学习时长还差 3 分钟",
        "公共课还差 2 分钟",
        "学习天数 0/3",
        "必修课《安全生产法律法规》未完成",
    ]
    assert not elig.can_start


async def test_eligibility__partial_study_leaves_only_what_is_missing(svc, exams):
    batch = await exams.batch(min_study_days=3)
    user = await exams.learner(batch)
    await exams.study(user, batch, videos=[batch.videos[0]], days_ago=(2, 1))
    elig = await _eligibility(svc, user, batch)
    assert elig.reasons == ["总学习时长还差 1 分钟", "学习天数 2/3"]


async def test_eligibility__studied_learner_may_start(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    elig = await _eligibility(svc, user, batch)
    assert elig.reasons == [] and elig.can_start
    assert (elig.credited_minutes, elig.public_minutes, elig.study_days) == (3, 2, 2)


async def test_eligibility__window_not_open_and_closed(svc, exams, clock):
    batch = await exams.batch(
        exam_opens_at=clock.now() + dt.timedelta(days=1),
        exam_closes_at=clock.now() + dt.timedelta(days=2),
    )
    user = await exams.eligible(batch)
    assert (await _eligibility(svc, user, batch)).reasons == ["考试未开放（2026-03-03 09:00 开放）"]
    clock.advance(days=3)
    assert (await _eligibility(svc, user, batch)).reasons == ["考试已结束"]


async def test_eligibility__not_enrolled_is_not_found(svc, exams, factory):
    batch = await exams.batch()
    stranger = await factory.user()
    with pytest.raises(NotFound):
        await _eligibility(svc, stranger, batch)


async def test_eligibility__no_policy_says_exam_not_arranged(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    async with svc.db.write() as db:
        await db.delete(await policies.get_policy(session=db, batch_id=batch.batch.id))
    assert (await _eligibility(svc, user, batch)).reasons == ["本批次尚未安排考试"]


# ------------------------------------------------------------------ starting


async def test_start__draws_a_paper_per_policy_with_a_fixed_deadline(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    types = [item.type for item in paper_of(attempt)]
    assert types == ["single"] * 4 + ["multiple"] * 2 + ["judge"] * 2
    assert attempt.number == 1 and attempt.status == "open"
    assert attempt.deadline == clock.now() + dt.timedelta(minutes=120)
    assert len({i.question_id for i in paper_of(attempt)}) == 8


async def test_start__deadline_never_passes_the_exam_window(svc, exams, clock):
    closes = clock.now() + dt.timedelta(minutes=30)
    batch = await exams.batch(exam_closes_at=closes)
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    assert attempt.deadline == closes


async def test_start__again_returns_the_running_attempt(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    first = await exams.start(user, batch)
    again = await exams.start(user, batch)
    assert again.id == first.id and again.paper == first.paper


async def test_start__each_attempt_gets_its_own_paper(svc, exams):
    batch = await exams.batch(policy={})  # the default 40/10/20 policy on the demo bank
    user = await exams.eligible(batch)
    papers_seen = set()
    for _ in range(3):
        attempt = await exams.start(user, batch)
        assert len(paper_of(attempt)) == 70
        papers_seen.add(attempt.paper)
        async with svc.db.write() as db:
            await grading.submit(session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now())
    assert len(papers_seen) == 3


async def test_start__bank_too_small_gives_a_clear_admin_error(svc, exams):
    batch = await exams.batch(policy={**SMALL, "multiple_count": 500})
    user = await exams.eligible(batch)
    with pytest.raises(AppError) as error:
        await exams.start(user, batch)
    assert error.value.code == "bank_too_small"
    assert "多选题需要 500 道，题库中只有 24 道启用的试题" in error.value.message
    assert "请联系管理员补充题库" in error.value.message
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count()).select_from(Attempt)) == 0


async def test_start__not_eligible_is_refused_with_the_reasons(svc, exams):
    batch = await exams.batch()
    user = await exams.learner(batch)
    with pytest.raises(AppError) as error:
        await exams.start(user, batch)
    assert error.value.code == "not_eligible"
    assert "公共课还差 2 分钟" in error.value.message


async def test_start__concurrent_clicks_start_one_attempt(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    first, second = await asyncio.gather(exams.start(user, batch), exams.start(user, batch))
    assert first.id == second.id


# ------------------------------------------------------------------ attempt limits


async def test_attempts__three_failures_use_up_the_chances(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    for number in (1, 2, 3):
        attempt = await exams.start(user, batch)
        assert attempt.number == number
        async with svc.db.write() as db:
            result = await grading.submit(
                session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
            )
        assert result.attempts_left == 3 - number
    assert "您的考试机会已用完" in result.message
    elig = await _eligibility(svc, user, batch)
    assert elig.reasons == ["已用 3 次机会，考试机会已用完，请报名参加后续批次"]
    with pytest.raises(AppError, match="已用 3 次机会"):
        await exams.start(user, batch)


async def test_attempts__passed_learner_cannot_start_again(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    await exams.save(attempt, await exams.key(attempt))
    async with svc.db.write() as db:
        result = await grading.submit(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
        )
    assert result.passed and result.score == 100
    assert result.message.startswith("恭喜您！您的考试成绩为 100 分，考试合格！")
    assert (await _eligibility(svc, user, batch)).reasons == ["已通过本批次考试"]
    with pytest.raises(AppError, match="已通过"):
        await exams.start(user, batch)


# ------------------------------------------------------------------ grading


async def test_grading__multiple_choice_scores_only_when_exactly_right(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    key = await exams.key(attempt)
    items = paper_of(attempt)
    singles = [i.question_id for i in items if i.type == "single"]
    multiples = [i.question_id for i in items if i.type == "multiple"]
    judges = [i.question_id for i in items if i.type == "judge"]
    answers = {q: key[q] for q in singles + judges}  # 60 + 20 = 80 points
    answers[multiples[0]] = key[multiples[0]][:-1]  # one right option missing: no points
    extra = next(ch for ch in "ABCDE" if ch not in key[multiples[1]])
    answers[multiples[1]] = "".join(sorted(key[multiples[1]] + extra))  # one wrong extra
    await exams.save(attempt, answers)
    async with svc.db.write() as db:
        result = await grading.submit(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
        )
    assert result.score == 60 and result.passed
    assert result.message.startswith("恭喜您！您的考试成绩为 60 分")


async def test_grading__failed_paper_uses_the_seed_wording(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        result = await grading.submit(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
        )
    assert (
        result.message
        == "很遗憾！您的考试成绩为 0 分，考试未通过！您还有 2 次考试的机会，继续努力吧！"
    )
    assert result.to_dict()["ended_label"] == "交卷"


async def test_grading__result_never_carries_answers(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        result = await grading.submit(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
        )
    assert set(result.to_dict()) == {
        "attempt_id",
        "score",
        "score_text",
        "passed",
        "ended_by",
        "ended_label",
        "attempts_left",
        "message",
    }


# ------------------------------------------------------------------ saving answers


async def test_save__lower_seq_never_overwrites_higher(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    qid = paper_of(attempt)[0].question_id
    assert await exams.save(attempt, {qid: "B"}, seq_from=5) == [None]
    assert await exams.save(attempt, {qid: "A"}, seq_from=3) == [None]  # stale, still fine
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {qid: ("B", 5)}
    await exams.save(attempt, {qid: "C"}, seq_from=6)
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {qid: ("C", 6)}


async def test_save__same_question_twice_in_one_batch_keeps_the_highest_seq(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    qid = paper_of(attempt)[0].question_id
    saves = [
        answers.Save(attempt.id, user.id, "tab-aaaaaaaa", qid, "D", 9),
        answers.Save(attempt.id, user.id, "tab-aaaaaaaa", qid, "A", 8),
    ]
    async with svc.db.write() as db:
        assert await answers.save_answers(session=db, saves=saves, now=svc.now()) == [None, None]
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {qid: ("D", 9)}


async def test_save__after_the_deadline_is_refused(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    clock.advance(minutes=120)
    [error] = await exams.save(attempt, {paper_of(attempt)[0].question_id: "A"})
    assert error.code == "time_up" and "考试时间已到" in error.message


async def test_save__closed_attempt_is_refused(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now())
    [error] = await exams.save(attempt, {paper_of(attempt)[0].question_id: "A"})
    assert error.code == "attempt_closed"
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {}


async def test_save__someone_elses_attempt_is_not_found(svc, exams):
    batch = await exams.batch()
    owner = await exams.eligible(batch)
    other = await exams.eligible(batch)
    attempt = await exams.start(owner, batch)
    await exams.join(attempt)
    save = answers.Save(
        attempt.id, other.id, "tab-aaaaaaaa", paper_of(attempt)[0].question_id, "A", 1
    )
    async with svc.db.write() as db:
        [error] = await answers.save_answers(session=db, saves=[save], now=svc.now())
    assert error.code == "not_found"
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {}


async def test_save__from_a_tab_that_was_taken_over_is_refused(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt, tab="tab-first111")
    outcome = await exams.join(attempt, tab="tab-second22", other=True)
    assert outcome.kind == "takeover"
    [error] = await exams.save(attempt, {paper_of(attempt)[0].question_id: "A"}, tab="tab-first111")
    assert error.code == "taken_over"
    assert await exams.save(
        attempt, {paper_of(attempt)[0].question_id: "A"}, tab="tab-second22"
    ) == [None]


async def test_get_attempt__someone_elses_is_not_found(svc, exams):
    batch = await exams.batch()
    owner = await exams.eligible(batch)
    other = await exams.eligible(batch)
    attempt = await exams.start(owner, batch)
    async with svc.db.read() as db:
        with pytest.raises(NotFound):
            await attempts.get_attempt(session=db, attempt_id=attempt.id, user_id=other.id)
    async with svc.db.write() as db:
        with pytest.raises(NotFound):
            await grading.submit(session=db, attempt_id=attempt.id, user_id=other.id, now=svc.now())
    assert (await exams.reload(attempt)).status == "open"


# ------------------------------------------------------------------ joining: resume, devices, forfeit


async def test_join__reconnecting_resumes_with_every_answer(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    assert (await exams.join(attempt)).kind == "first"
    qid = paper_of(attempt)[0].question_id
    await exams.save(attempt, {qid: "B"})
    outcome = await exams.join(attempt)  # same tab: a reconnect
    assert outcome.kind == "reconnect"
    outcome = await exams.join(attempt, tab="tab-reopened", other=False)  # browser reopened
    assert outcome.kind == "resume"
    async with svc.db.read() as db:
        assert await attempts.answers_of(session=db, attempt_id=attempt.id) == {qid: ("B", 1)}
    assert (await exams.reload(attempt)).reconnects == 2


async def test_join__second_device_takes_over_and_is_recorded(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt, tab="tab-first111")
    outcome = await exams.join(attempt, tab="tab-second22", other=True)
    assert outcome.kind == "takeover" and outcome.previous_tab == "tab-first111"
    row = await exams.reload(attempt)
    assert row.tab == "tab-second22" and row.second_devices == 1
    async with svc.db.read() as db:
        kinds = list(
            await db.scalars(select(AttemptEvent.kind).where(AttemptEvent.attempt_id == attempt.id))
        )
    assert kinds == ["join", "second_device"]


async def test_join__second_device_refused_when_the_batch_says_so(svc, exams):
    batch = await exams.batch(policy={**SMALL, "second_device": "refuse"})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt, tab="tab-first111")
    outcome = await exams.join(attempt, tab="tab-second22", other=True)
    assert outcome.kind == "refused"
    row = await exams.reload(attempt)
    assert row.tab == "tab-first111" and row.second_devices == 1 and row.status == "open"


async def test_join__forfeit_policy_ends_the_attempt_when_the_page_is_reopened(svc, exams):
    batch = await exams.batch(policy={**SMALL, "disconnect_policy": "forfeit"})
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt, tab="tab-first111")
    key = await exams.key(attempt)
    await exams.save(attempt, key, tab="tab-first111")
    assert (await exams.join(attempt, tab="tab-first111")).kind == "reconnect"  # network blip
    outcome = await exams.join(attempt, tab="tab-reopened", other=False)
    assert outcome.kind == "forfeited"
    row = await exams.reload(attempt)
    assert row.status == "closed" and row.ended_by == EndedBy.FORFEITED
    assert row.score == 0 and row.passed is False
    async with svc.db.read() as db:
        result = await grading.result_of(session=db, attempt=row)
    assert result.message.startswith("本次考试已作废")
    assert "您还有 2 次考试的机会" in result.message


async def test_join__resume_policy_keeps_the_attempt_when_the_page_is_reopened(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt, tab="tab-first111")
    assert (await exams.join(attempt, tab="tab-reopened")).kind == "resume"
    assert (await exams.reload(attempt)).status == "open"


async def test_join__expired_attempt_is_submitted_on_touch(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    await exams.save(attempt, await exams.key(attempt))
    clock.advance(minutes=121)
    outcome = await exams.join(attempt)
    assert outcome.kind == "closed"
    row = await exams.reload(attempt)
    assert row.ended_by == EndedBy.TIME_UP and row.score == 100


async def test_focus_loss__is_counted_and_recorded(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        await joining.record_focus_loss(
            session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now(), detail="离开考试窗口"
        )
    assert (await exams.reload(attempt)).focus_losses == 1


# ------------------------------------------------------------------ the deadline sweeper


async def test_sweep__submits_at_the_deadline_with_every_acknowledged_answer(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    key = await exams.key(attempt)
    await exams.save(attempt, key)
    clock.advance(minutes=119, seconds=59)
    async with svc.db.write() as db:
        assert await grading.sweep(session=db, now=svc.now()) == []
    clock.advance(seconds=1)
    async with svc.db.write() as db:
        [result] = await grading.sweep(session=db, now=svc.now())
    assert result.ended_by == EndedBy.TIME_UP and result.score == 100
    row = await exams.reload(attempt)
    assert row.ended_at == row.deadline
    assert {int(q): v for q, (v, _s) in graded(row).items()} == key


async def test_sweep__is_idempotent(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    await exams.start(user, batch)
    clock.advance(minutes=121)
    async with svc.db.write() as db:
        assert len(await grading.sweep(session=db, now=svc.now())) == 1
    async with svc.db.write() as db:
        assert await grading.sweep(session=db, now=svc.now()) == []


async def test_sweep__several_processes_never_submit_twice(svc, exams, clock, config):
    batch = await exams.batch()
    users = [await exams.eligible(batch) for _ in range(5)]
    for user in users:
        await exams.start(user, batch)
    clock.advance(minutes=121)
    others = [build_services(config) for _ in range(3)]  # separate engines, as in processes
    try:

        async def one(s):
            async with s.db.write() as db:
                return await grading.sweep(session=db, now=s.now())

        results = await asyncio.gather(*(one(s) for s in [svc, *others]))
    finally:
        for s in others:
            await s.close()
    closed = [r.attempt_id for batch_results in results for r in batch_results]
    assert len(closed) == 5 == len(set(closed))
    async with svc.db.read() as db:
        events = await db.scalar(
            select(func.count()).select_from(AttemptEvent).where(AttemptEvent.kind == "time_up")
        )
    assert events == 5


async def test_sweep__after_a_restart_submits_overdue_papers(svc, exams, clock, config):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    await exams.save(attempt, await exams.key(attempt))
    clock.advance(hours=5)  # the deadline passed while nothing was running
    restarted = build_services(config)
    try:
        from workers.exams import sweep_exam_deadlines

        closed = await sweep_exam_deadlines({"svc": restarted}, lookahead=0)
    finally:
        await restarted.close()
    assert closed == 1
    row = await exams.reload(attempt)
    assert row.status == "closed" and row.score == 100 and row.ended_at == clock.now()


async def test_sweep__learner_submit_racing_the_sweeper_submits_once(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    clock.advance(minutes=120)

    async def learner():
        async with svc.db.write() as db:
            return await grading.submit(
                session=db, attempt_id=attempt.id, user_id=user.id, now=svc.now()
            )

    async def sweeper():
        async with svc.db.write() as db:
            return await grading.sweep(session=db, now=svc.now())

    submitted, swept = await asyncio.gather(learner(), sweeper())
    assert submitted.ended_by == EndedBy.TIME_UP
    async with svc.db.read() as db:
        ends = await db.scalar(
            select(func.count())
            .select_from(AttemptEvent)
            .where(AttemptEvent.attempt_id == attempt.id, AttemptEvent.kind == "time_up")
        )
    assert ends == 1


# ------------------------------------------------------------------ invigilator actions, records


async def test_extend__moves_the_deadline_for_one_learner(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        await attempts.extend_deadline(session=db, attempt_id=attempt.id, minutes=10, now=svc.now())
    clock.advance(minutes=125)
    async with svc.db.write() as db:
        assert await grading.sweep(session=db, now=svc.now()) == []
    async with svc.db.write() as db:
        with pytest.raises(AppError, match="延长时间应在"):
            await attempts.extend_deadline(
                session=db, attempt_id=attempt.id, minutes=0, now=svc.now()
            )


async def test_force_submit__ends_with_the_invigilator_label(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    async with svc.db.write() as db:
        result = await grading.force_submit(session=db, attempt_id=attempt.id, now=svc.now())
    assert result.to_dict()["ended_label"] == "监考强制交卷"


async def test_records__list_every_attempt_and_how_it_ended(svc, exams, clock):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    first = await exams.start(user, batch)
    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=first.id, user_id=user.id, now=svc.now())
    clock.advance(minutes=5)
    await exams.start(user, batch)
    clock.advance(minutes=121)
    async with svc.db.write() as db:
        await grading.sweep(session=db, now=svc.now())
    clock.advance(minutes=5)
    await exams.start(user, batch)
    async with svc.db.read() as db:
        rows = await records.records(session=db, user_id=user.id)
    assert [(r.attempt.number, r.ended_label, r.result_label) for r in rows] == [
        (3, "进行中", "—"),
        (2, "时间到自动交卷", "不合格"),
        (1, "交卷", "不合格"),
    ]


async def test_answers__stored_rows_match_the_acknowledged_saves(svc, exams):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    await exams.join(attempt)
    await exams.save(attempt, {i.question_id: "" for i in paper_of(attempt)})
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count()).select_from(Answer)) == 8
