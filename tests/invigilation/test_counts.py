"""The dashboard counts every paper of the session: a forced paper and a voided re-sit
both stay counted, while the learner's row shows the current attempt."""

from __future__ import annotations

from app.exams import grading, records
from app.exams.models import Attempt
from app.invigilation import actions, board


async def test_rows__a_forced_paper_and_a_voided_resit_both_stay_counted(svc, proctoring):
    sitting = await proctoring.sitting(2)
    learner, other = sitting.learners
    invigilator = await proctoring.invigilator(sitting.exam_session)

    async def act(do, attempt, reason):
        async with svc.db.write() as db:
            await do(
                session=db,
                actor=actions.Actor(invigilator, "10.0.0.9"),
                exam_session=sitting.exam_session,
                attempt_id=attempt.id,
                reason=reason,
                now=svc.now(),
            )

    first = await proctoring.start(learner, sitting.batch)
    await act(actions.force_submit, first, "违纪")
    second = await proctoring.start(learner, sitting.batch)
    await act(actions.void, second, "替考")
    third = await proctoring.start(learner, sitting.batch)
    async with svc.db.read() as db:
        rows = {
            r["uid"]: r
            for r in await board.rows(
                session=db, redis=svc.redis, exam_session=sitting.exam_session
            )
        }
        few = await board.rows(
            session=db,
            redis=svc.redis,
            exam_session=sitting.exam_session,
            user_ids=[learner.id],
        )
    row = rows[learner.id]
    assert (row["aid"], row["n"], row["state"]) == (third.id, 3, "offline")
    assert row["ends"] == {"forced": 1, "voided": 1}
    assert rows[other.id]["ends"] == {} and rows[other.id]["state"] == "waiting"
    # A delta of a few rows counts the same way as the whole snapshot.
    assert few[0]["ends"] == row["ends"]


async def test_force_submit__the_reason_reaches_the_result_and_the_exam_records(svc, proctoring):
    sitting = await proctoring.sitting(1)
    learner = sitting.learners[0]
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(learner, sitting.batch)
    async with svc.db.write() as db:
        result = await actions.force_submit(
            session=db,
            actor=actions.Actor(invigilator, "10.0.0.9"),
            exam_session=sitting.exam_session,
            attempt_id=attempt.id,
            reason="使用手机",
            now=svc.now(),
        )
    assert result.message.startswith("监考强制交卷（原因：使用手机）。很遗憾！")
    async with svc.db.read() as db:
        again = await grading.result_of(session=db, attempt=await db.get(Attempt, attempt.id))
        rows = await records.records(session=db, user_id=learner.id)
    assert again.message == result.message
    assert rows[0].void_note == "强制交卷原因：使用手机" and rows[0].ended_label == "监考强制交卷"
