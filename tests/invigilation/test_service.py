"""Invigilation services: sessions, rows, timeline, messages and the audited actions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.certificates import issuing
from app.certificates.models import Certificate, CertificateState
from app.errors import AppError, Forbidden, NotFound
from app.exams import grading, joining, live
from app.exams.models import ExamSession
from app.exams.statuses import EndedBy
from app.invigilation import actions, assignments, board, messages
from app.invigilation import live as proctor_live
from tests.exams.conftest import SMALL, paper_of


async def _rows(svc, exam_session, user_ids=None):
    async with svc.db.read() as db:
        return await board.rows(
            session=db, redis=svc.redis, exam_session=exam_session, user_ids=user_ids
        )


async def _act(svc, do, user, exam_session, **kwargs):
    async with svc.db.write() as db:
        return await do(
            session=db,
            actor=actions.Actor(user, "10.0.0.9"),
            exam_session=exam_session,
            now=svc.now(),
            **kwargs,
        )


# ---------------------------------------------------------------------------- sessions


async def test_session__an_attempt_started_while_it_runs_belongs_to_it(svc, proctoring):
    sitting = await proctoring.sitting()
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    assert attempt.session_id == sitting.exam_session.id


async def test_session__a_listed_session_wins_over_an_everyone_session(svc, proctoring):
    sitting = await proctoring.sitting(2)
    listed_one, other = sitting.learners
    special = await proctoring.exam_session(
        sitting.batch, name="第二考场", id_numbers=[listed_one.id_number]
    )
    assert (await proctoring.start(listed_one, sitting.batch)).session_id == special.id
    assert (await proctoring.start(other, sitting.batch)).session_id == sitting.exam_session.id


async def test_session__none_running_leaves_the_attempt_without_one(svc, proctoring, clock):
    batch = await proctoring.batch()
    user = await proctoring.eligible(batch)
    await proctoring.exam_session(batch, starts=dt.timedelta(hours=2), ends=dt.timedelta(hours=4))
    assert (await proctoring.start(user, batch)).session_id is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "  "}, "请填写考场名称"),
        ({"name": "考" * 101}, "考场名称不能超过100字"),
        ({"ends": dt.timedelta(minutes=-40)}, "结束时间应晚于开始时间"),
        ({"starts": dt.timedelta(hours=-2)}, "考场时间应在本批次考试时间内"),
        ({"ends": dt.timedelta(days=40)}, "考场时间应在本批次考试时间内"),
        ({"id_numbers": ["110101199003074258"]}, "不是本批次报名的学员"),
    ],
)
async def test_session__bad_input_is_refused_and_creates_nothing(svc, proctoring, change, message):
    batch = await proctoring.batch()
    with pytest.raises(AppError, match=message):
        await proctoring.exam_session(batch, **change)
    async with svc.db.read() as db:
        assert (await db.scalars(select(ExamSession))).all() == []


async def test_session__listed_learners_only_are_its_members(svc, proctoring):
    batch = await proctoring.batch()
    inside = await proctoring.learner(batch, name="甲")
    await proctoring.learner(batch, name="乙")
    listed = await proctoring.exam_session(batch, id_numbers=[inside.id_number.lower()])
    rows = await _rows(svc, listed)
    assert [r["name"] for r in rows] == ["甲"]


async def test_session__one_with_attempts_cannot_be_deleted(svc, proctoring):
    sitting = await proctoring.sitting()
    await proctoring.start(sitting.learners[0], sitting.batch)
    admin = await proctoring.admin()
    with pytest.raises(AppError, match="已有 1 次考试记录，不能删除"):
        async with svc.db.write() as db:
            await assignments.delete_session(
                session=db, session_id=sitting.exam_session.id, now=svc.now(), actor_id=admin.id
            )


# ---------------------------------------------------------------------------- access


async def test_access__only_assigned_invigilators_and_admins(svc, proctoring):
    sitting = await proctoring.sitting()
    mine = await proctoring.invigilator(sitting.exam_session)
    other = await proctoring.invigilator(name="李监考")
    admin = await proctoring.admin()
    async with svc.db.read() as db:
        for user in (mine, admin):
            await assignments.require_access(
                session=db, user=user, session_id=sitting.exam_session.id
            )
        with pytest.raises(Forbidden, match="您不是该考场的监考员"):
            await assignments.require_access(
                session=db, user=other, session_id=sitting.exam_session.id
            )
        with pytest.raises(Forbidden):
            await assignments.require_access(
                session=db, user=sitting.learners[0], session_id=sitting.exam_session.id
            )
        assert [
            r.exam_session.id for r in await assignments.sessions_for(session=db, user=mine)
        ] == [sitting.exam_session.id]
        assert await assignments.sessions_for(session=db, user=other) == []


async def test_assign__only_accounts_with_the_invigilator_role(svc, proctoring):
    sitting = await proctoring.sitting()
    admin = await proctoring.admin()
    with pytest.raises(AppError, match="不是监考员"):
        async with svc.db.write() as db:
            await assignments.assign(
                session=db,
                session_id=sitting.exam_session.id,
                id_number=sitting.learners[0].id_number,
                now=svc.now(),
                actor_id=admin.id,
            )
    invigilator = await proctoring.invigilator(sitting.exam_session)
    with pytest.raises(AppError, match="已是该考场的监考员"):
        await proctoring.assign(sitting.exam_session, invigilator)


# ---------------------------------------------------------------------------- rows


async def test_rows__every_learner_with_state_answers_and_counters(svc, proctoring):
    sitting = await proctoring.sitting(3)
    waiting, sitting_one, done = sitting.learners
    attempt = await proctoring.start(sitting_one, sitting.batch)
    await proctoring.join(attempt)
    qids = [i.question_id for i in paper_of(attempt)]
    await proctoring.save(attempt, {qids[0]: "A", qids[1]: ""})
    async with svc.db.write() as db:
        await joining.record_focus_loss(
            session=db, attempt_id=attempt.id, user_id=sitting_one.id, now=svc.now(), detail="x"
        )
    closed = await proctoring.start(done, sitting.batch)
    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=closed.id, user_id=done.id, now=svc.now())
    rows = {r["uid"]: r for r in await _rows(svc, sitting.exam_session)}
    assert rows[waiting.id]["state"] == "waiting" and "aid" not in rows[waiting.id]
    row = rows[sitting_one.id]
    assert row["state"] == "offline"  # no tab holds it in Redis
    assert (row["answered"], row["total"], row["focus"]) == (1, 8, 1)
    assert row["idm"].startswith("120101") and "*" in row["idm"]
    assert rows[done.id]["state"] == "submitted" and rows[done.id]["score"] == "0"
    await svc.redis.set(live.owner_key(attempt.id), "tab|sid")
    assert (await _rows(svc, sitting.exam_session, [sitting_one.id]))[0]["state"] == "online"


# ---------------------------------------------------------------------------- actions


async def test_extend__one_learner_moves_the_deadline_and_is_audited(svc, proctoring):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    done = await _act(
        svc,
        actions.extend,
        invigilator,
        sitting.exam_session,
        attempt_id=attempt.id,
        minutes=10,
        reason="网络故障",
    )
    assert done.message == "已延长 10 分钟"
    moved = await proctoring.attempt(attempt.id)
    assert moved.deadline == attempt.deadline + dt.timedelta(minutes=10)
    async with svc.db.read() as db:
        entry = await db.scalar(
            select(AuditEntry).where(AuditEntry.action == "invigilation.extend")
        )
    assert entry.actor_id == invigilator.id and entry.target_user_id == sitting.learners[0].id
    assert "原因：网络故障" in entry.detail and entry.ip == "10.0.0.9"


async def test_extend__past_the_window_is_capped_and_then_refused(svc, proctoring, clock):
    sitting = await proctoring.sitting(
        exam_closes_at=clock.now() + dt.timedelta(hours=2, minutes=5),
        session_ends=dt.timedelta(hours=2),
        policy={**SMALL, "duration_minutes": 120},
    )
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    done = await _act(
        svc,
        actions.extend,
        invigilator,
        sitting.exam_session,
        attempt_id=attempt.id,
        minutes=30,
        reason="网络故障",
    )
    assert "已延长至本批次考试截止时间" in done.message and "实际延长约 5 分钟" in done.message
    assert (await proctoring.attempt(attempt.id)).deadline == sitting.batch.batch.exam_closes_at
    with pytest.raises(AppError, match="不能再延长"):
        await _act(
            svc,
            actions.extend,
            invigilator,
            sitting.exam_session,
            attempt_id=attempt.id,
            minutes=5,
            reason="网络故障",
        )


@pytest.mark.parametrize(
    ("minutes", "reason", "message"),
    [
        (0, "x", "延长时间应在 1 到 120 分钟之间"),
        (-5, "x", "延长时间应在 1 到 120 分钟之间"),
        (121, "x", "延长时间应在 1 到 120 分钟之间"),
        ("10", "x", "延长时间应在 1 到 120 分钟之间"),
        (10, "  ", "请填写延长原因"),
    ],
)
async def test_extend__bad_input_changes_nothing(svc, proctoring, minutes, reason, message):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    with pytest.raises(AppError, match=message):
        await _act(
            svc,
            actions.extend,
            invigilator,
            sitting.exam_session,
            attempt_id=attempt.id,
            minutes=minutes,
            reason=reason,
        )
    assert (await proctoring.attempt(attempt.id)).deadline == attempt.deadline
    assert await proctoring.audit_count("invigilation.extend") == 0


async def test_extend__the_whole_session_moves_only_attempts_in_progress(svc, proctoring):
    sitting = await proctoring.sitting(3)
    invigilator = await proctoring.invigilator(sitting.exam_session)
    running = [await proctoring.start(u, sitting.batch) for u in sitting.learners[:2]]
    async with svc.db.write() as db:
        await grading.submit(
            session=db, attempt_id=running[1].id, user_id=running[1].user_id, now=svc.now()
        )
    done = await _act(
        svc,
        actions.extend,
        invigilator,
        sitting.exam_session,
        attempt_id=None,
        minutes=15,
        reason="考场统一安排延长",
    )
    assert done.extended == 1 and done.message == "已为 1 名正在作答的考生延长 15 分钟"
    assert (await proctoring.attempt(running[0].id)).deadline == running[0].deadline + dt.timedelta(
        minutes=15
    )
    assert (await proctoring.attempt(running[1].id)).deadline == running[1].deadline


async def test_extend__a_session_with_nobody_answering_is_refused(svc, proctoring):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    with pytest.raises(AppError, match="没有正在作答的考生"):
        await _act(
            svc,
            actions.extend,
            invigilator,
            sitting.exam_session,
            attempt_id=None,
            minutes=15,
            reason="x",
        )


async def test_force_submit__grades_acknowledged_answers_and_refuses_an_ended_one(svc, proctoring):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    await proctoring.join(attempt)
    await proctoring.save(attempt, await proctoring.key(attempt))
    result = await _act(
        svc,
        actions.force_submit,
        invigilator,
        sitting.exam_session,
        attempt_id=attempt.id,
        reason="考试过程中有违纪行为",
    )
    assert result.ended_by == EndedBy.INVIGILATOR and result.score == 100 and result.passed
    assert result.message.startswith("监考强制交卷（原因：考试过程中有违纪行为）。")
    closed = await proctoring.attempt(attempt.id)
    with pytest.raises(AppError, match="已结束（监考强制交卷），不能强制交卷"):
        await _act(
            svc,
            actions.force_submit,
            invigilator,
            sitting.exam_session,
            attempt_id=attempt.id,
            reason="再来一次",
        )
    again = await proctoring.attempt(attempt.id)
    assert (again.ended_at, again.score) == (closed.ended_at, closed.score)
    assert await proctoring.audit_count("invigilation.force_submit") == 1


async def test_actions__an_attempt_of_another_session_is_not_found(svc, proctoring):
    sitting = await proctoring.sitting()
    elsewhere = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(elsewhere.learners[0], elsewhere.batch)
    with pytest.raises(NotFound, match="该考生本场考试的记录不存在"):
        await _act(
            svc,
            actions.void,
            invigilator,
            sitting.exam_session,
            attempt_id=attempt.id,
            reason="x",
        )
    assert (await proctoring.attempt(attempt.id)).is_open


# ---------------------------------------------------------------------------- void


async def test_void__an_open_attempt_never_passes_and_uses_a_chance(svc, proctoring):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    await proctoring.join(attempt)
    await proctoring.save(attempt, await proctoring.key(attempt))
    result = await _act(
        svc,
        actions.void,
        invigilator,
        sitting.exam_session,
        attempt_id=attempt.id,
        reason="冒名顶替",
    )
    voided = await proctoring.attempt(attempt.id)
    assert voided.is_closed and voided.is_voided and voided.passed is False
    assert voided.score == 100 and voided.void_reason == "冒名顶替" and voided.uses_attempt
    assert result.attempts_left == 2
    assert "本次考试已被监考员作废（原因：冒名顶替）" in result.message


async def test_void__twice_or_without_a_reason_is_refused(svc, proctoring):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    with pytest.raises(AppError, match="请填写作废原因"):
        await _act(
            svc, actions.void, invigilator, sitting.exam_session, attempt_id=attempt.id, reason=""
        )
    assert (await proctoring.attempt(attempt.id)).is_open
    await _act(
        svc, actions.void, invigilator, sitting.exam_session, attempt_id=attempt.id, reason="作弊"
    )
    with pytest.raises(AppError, match="该次考试已作废"):
        await _act(
            svc,
            actions.void,
            invigilator,
            sitting.exam_session,
            attempt_id=attempt.id,
            reason="作弊",
        )
    assert await proctoring.audit_count("invigilation.void") == 1


async def test_void__a_passed_attempt_loses_its_certificate(svc, proctoring):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    await proctoring.join(attempt)
    await proctoring.save(attempt, await proctoring.key(attempt))
    async with svc.db.write() as db:
        result = await grading.submit(
            session=db, attempt_id=attempt.id, user_id=attempt.user_id, now=svc.now()
        )
        assert result.passed
    async with svc.db.write() as db:
        passed = await db.get(type(attempt), attempt.id)
        certificate = await issuing.request_certificate(session=db, attempt=passed, now=svc.now())
        certificate.state = CertificateState.ISSUED
    await _act(
        svc, actions.void, invigilator, sitting.exam_session, attempt_id=attempt.id, reason="替考"
    )
    async with svc.db.read() as db:
        certificate = await db.scalar(
            select(Certificate).where(Certificate.attempt_id == attempt.id)
        )
    assert certificate.state == CertificateState.REVOKED
    assert certificate.revoke_reason == "考试已被监考员作废：替考"
    assert certificate.revoked_by == invigilator.id
    voided = await proctoring.attempt(attempt.id)
    assert voided.passed is False and voided.score == 100 and voided.ended_by == EndedBy.VOIDED


# ---------------------------------------------------------------------------- messages


async def test_messages__sent_read_and_shown_on_the_row(svc, proctoring):
    sitting = await proctoring.sitting(2)
    one, other = sitting.learners
    invigilator = await proctoring.invigilator(sitting.exam_session)
    to_all = await _act(
        svc,
        actions.send_message,
        invigilator,
        sitting.exam_session,
        user_id=None,
        text="请关闭手机",
    )
    to_one = await _act(
        svc, actions.send_message, invigilator, sitting.exam_session, user_id=one.id, text="请坐正"
    )
    async with svc.db.read() as db:
        assert [
            m["id"]
            for m in await messages.unread_for(
                session=db, user_id=one.id, session_id=sitting.exam_session.id
            )
        ] == [to_all.id, to_one.id]
        assert [
            m["id"]
            for m in await messages.unread_for(
                session=db, user_id=other.id, session_id=sitting.exam_session.id
            )
        ] == [to_all.id]
    async with svc.db.write() as db:
        await messages.mark_read(
            session=db,
            user_id=one.id,
            session_id=sitting.exam_session.id,
            message_id=to_one.id,
            now=svc.now(),
        )
    with pytest.raises(NotFound):
        async with svc.db.write() as db:
            await messages.mark_read(
                session=db,
                user_id=other.id,
                session_id=sitting.exam_session.id,
                message_id=to_one.id,
                now=svc.now(),
            )
    row = (await _rows(svc, sitting.exam_session, [one.id]))[0]
    assert list(row["reads"]) == [str(to_one.id)]
    assert await svc.redis.sismember(proctor_live.dirty_key(sitting.exam_session.id), one.id)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "请输入消息内容"), ("   ", "请输入消息内容"), ("长" * 201, "消息不能超过200字")],
)
async def test_messages__bad_text_is_refused(svc, proctoring, text, message):
    sitting = await proctoring.sitting()
    invigilator = await proctoring.invigilator(sitting.exam_session)
    with pytest.raises(AppError, match=message):
        await _act(
            svc, actions.send_message, invigilator, sitting.exam_session, user_id=None, text=text
        )
    assert await proctoring.audit_count("invigilation.message") == 0


# ---------------------------------------------------------------------------- timeline


async def test_timeline__joins_focus_messages_reads_reconnects_devices_extension_and_the_end(
    svc, proctoring, clock
):
    sitting = await proctoring.sitting()
    learner = sitting.learners[0]
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(learner, sitting.batch)
    await proctoring.join(attempt)
    clock.advance(seconds=1)
    async with svc.db.write() as db:
        await joining.record_focus_loss(
            session=db, attempt_id=attempt.id, user_id=learner.id, now=svc.now(), detail="离开"
        )
    sent = await _act(
        svc,
        actions.send_message,
        invigilator,
        sitting.exam_session,
        user_id=learner.id,
        text="注意",
    )
    clock.advance(seconds=1)
    async with svc.db.write() as db:
        await messages.mark_read(
            session=db,
            user_id=learner.id,
            session_id=sitting.exam_session.id,
            message_id=sent.id,
            now=svc.now(),
        )
    clock.advance(seconds=1)
    await proctoring.join(attempt)  # the same tab again: a reconnect
    clock.advance(seconds=1)
    await proctoring.join(attempt, tab="tab-bbbbbbbb", other=True)  # another window
    clock.advance(seconds=1)
    await _act(
        svc,
        actions.extend,
        invigilator,
        sitting.exam_session,
        attempt_id=attempt.id,
        minutes=5,
        reason="网络故障",
    )
    clock.advance(seconds=1)
    await _act(
        svc,
        actions.force_submit,
        invigilator,
        sitting.exam_session,
        attempt_id=attempt.id,
        reason="违纪",
    )
    async with svc.db.read() as db:
        entries = await board.timeline(
            session=db, exam_session=sitting.exam_session, user_id=learner.id
        )
    labels = [e["label"] for e in entries]
    assert labels == [
        "进入考试",
        "离开考试页面",
        "收到监考消息",
        "已读监考消息",
        "断线后重新连接",
        "在其他窗口或设备上打开（已接管）",
        "延长考试时间",
        "监考强制交卷",
    ]
    assert "原因：违纪" in entries[-1]["detail"]
