"""监考 and 考场管理 pages and the action API: who may see what, and every bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from app.exams import grading
from app.exams.models import ExamSession
from tests.factories import csrf_of, login
from tests.invigilation.conftest import PASSWORD

HTML = {"Accept": "text/html"}


async def _text(response) -> str:
    return await response.get_data(as_text=True)


async def _post(client, url, body):
    return await client.post(
        url,
        json=body,
        headers={"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"},
    )


async def _form(client, url, form):
    return await client.post(url, form={"csrf_token": await csrf_of(client), **form})


@pytest.fixture
async def watched(svc, client, proctoring):
    """A session with one learner sitting, its invigilator logged in."""
    sitting = await proctoring.sitting(2)
    invigilator = await proctoring.invigilator(sitting.exam_session)
    attempt = await proctoring.start(sitting.learners[0], sitting.batch)
    await login(client, svc, invigilator.id_number, PASSWORD)
    sitting.attempt = attempt
    sitting.invigilator = invigilator
    return sitting


# ---------------------------------------------------------------------------- pages


async def test_login__an_invigilator_lands_on_my_sessions(svc, client, proctoring):
    invigilator = await proctoring.invigilator()
    response = await login(client, svc, invigilator.id_number, PASSWORD)
    assert response.headers["Location"] == "/invigilate"
    page = await _text(await client.get("/invigilate"))
    assert "我的监考" in page and "您还没有被指派监考任何考场" in page
    assert "管理员在“管理 - 考场管理”中新建，并在那里指派监考员" in page
    assert "监考" in page and "我的课程" not in page


async def test_index__lists_only_the_sessions_assigned(svc, client, watched, proctoring):
    other = await proctoring.sitting()
    page = await _text(await client.get("/invigilate"))
    assert f'id="session-{watched.exam_session.id}"' in page
    assert f'id="session-{other.exam_session.id}"' not in page
    assert "进入监考" in page and "王监考" in page


async def test_dashboard__renders_for_its_invigilator(client, watched):
    response = await client.get(f"/invigilate/{watched.exam_session.id}")
    page = await _text(response)
    assert response.status_code == 200
    assert "第一考场" in page and 'id="board"' in page and "全场消息" in page
    for label in ("未开始", "作答中·在线", "离线", "已交卷", "监考强制交卷", "已作废"):
        assert label in page


async def test_dashboard__a_session_not_yours_is_403_everywhere(svc, client, watched, proctoring):
    other = await proctoring.sitting()
    attempt = await proctoring.start(other.learners[0], other.batch)
    sid, uid = other.exam_session.id, other.learners[0].id
    for url in (
        f"/invigilate/{sid}",
        f"/invigilate/{sid}/photo/{uid}",
        f"/api/invigilate/{sid}/snapshot",
        f"/api/invigilate/{sid}/learners/{uid}/timeline",
    ):
        response = await client.get(url, headers={"Accept": "application/json"})
        assert response.status_code == 403, url
        assert (await response.get_json())["message"] == "您不是该考场的监考员，无权查看或操作"
    for path, body in (
        ("messages", {"user_id": uid, "text": "你好"}),
        ("extend", {"attempt_id": attempt.id, "minutes": 10, "reason": "x"}),
        ("force-submit", {"attempt_id": attempt.id, "reason": "x"}),
        ("void", {"attempt_id": attempt.id, "reason": "x"}),
    ):
        response = await _post(client, f"/api/invigilate/{sid}/{path}", body)
        assert response.status_code == 403, path
    unchanged = await proctoring.attempt(attempt.id)
    assert unchanged.is_open and unchanged.deadline == attempt.deadline
    assert await proctoring.audit_count("invigilation.message") == 0


async def test_dashboard__learners_cannot_reach_it(svc, client, proctoring):
    sitting = await proctoring.sitting()
    await login(client, svc, sitting.learners[0].id_number, PASSWORD)
    assert (await client.get(f"/invigilate/{sitting.exam_session.id}")).status_code == 403
    assert (await client.get("/invigilate")).status_code == 403


async def test_dashboard__an_admin_may_watch_any_session(svc, client, proctoring):
    sitting = await proctoring.sitting()
    admin = await proctoring.admin()
    await login(client, svc, admin.id_number, PASSWORD)
    assert (await client.get(f"/invigilate/{sitting.exam_session.id}")).status_code == 200


async def test_snapshot__every_learner_of_the_session(client, watched):
    data = await (
        await client.get(f"/api/invigilate/{watched.exam_session.id}/snapshot")
    ).get_json()
    assert data["ok"] and data["version"] == 0
    states = {r["name"]: r["state"] for r in data["rows"]}
    assert states == {"考生1": "offline", "考生2": "waiting"}


async def test_photo__shown_to_the_session_only_and_never_missing_quietly(client, watched):
    sid = watched.exam_session.id
    response = await client.get(f"/invigilate/{sid}/photo/{watched.learners[0].id}")
    assert response.status_code == 404
    assert "该考生尚未上传照片" in await _text(response)
    stranger = await client.get(f"/invigilate/{sid}/photo/{watched.invigilator.id}")
    assert stranger.status_code == 404 and "该考生不在本考场" in await _text(stranger)


async def test_timeline__of_a_learner(client, watched):
    data = await (
        await client.get(
            f"/api/invigilate/{watched.exam_session.id}/learners/{watched.learners[0].id}/timeline"
        )
    ).get_json()
    assert data == {"ok": True, "entries": []}


# ---------------------------------------------------------------------------- actions


async def test_actions__each_works_and_answers_in_chinese(client, watched, proctoring):
    sid, attempt = watched.exam_session.id, watched.attempt
    reply = await _post(client, f"/api/invigilate/{sid}/messages", {"text": "请关闭手机"})
    assert (await reply.get_json())["notice"] == "消息已发送"
    reply = await _post(
        client,
        f"/api/invigilate/{sid}/extend",
        {"attempt_id": attempt.id, "minutes": 10, "reason": "网络故障"},
    )
    assert (await reply.get_json())["notice"] == "已延长 10 分钟"
    reply = await _post(
        client, f"/api/invigilate/{sid}/force-submit", {"attempt_id": attempt.id, "reason": "违纪"}
    )
    assert (await reply.get_json())["notice"] == "已强制交卷，得分 0 分"
    reply = await _post(
        client, f"/api/invigilate/{sid}/void", {"attempt_id": attempt.id, "reason": "替考"}
    )
    assert (await reply.get_json())["notice"] == "已作废，本次考试计入考试次数"
    assert await proctoring.audit_count() >= 4


BAD_INPUT = [
    ("extend", {"minutes": 0, "reason": "x"}, 400, "延长时间应在 1 到 120 分钟之间"),
    ("extend", {"minutes": -10, "reason": "x"}, 400, "延长时间应在 1 到 120 分钟之间"),
    ("extend", {"minutes": "10", "reason": "x"}, 400, "延长时间应在 1 到 120 分钟之间"),
    ("extend", {"minutes": 500, "reason": "x"}, 400, "延长时间应在 1 到 120 分钟之间"),
    ("extend", {"minutes": 10}, 400, "请填写延长原因"),
    ("extend", {"minutes": 10, "reason": "x", "attempt_id": "1"}, 400, "请选择考生"),
    (
        "extend",
        {"minutes": 10, "reason": "x", "attempt_id": 999999},
        404,
        "该考生本场考试的记录不存在",
    ),
    ("force-submit", {}, 400, "请填写强制交卷原因"),
    ("force-submit", {"reason": "x", "attempt_id": None}, 400, "请选择考生"),
    ("void", {"reason": ""}, 400, "请填写作废原因"),
    ("void", {"reason": "长" * 201}, 400, "作废原因不能超过200字"),
    ("messages", {"text": ""}, 400, "请输入消息内容"),
    ("messages", {"text": "长" * 201}, 400, "消息不能超过200字"),
    ("messages", {"text": "你好", "user_id": 999999}, 404, "该考生不在本考场"),
    ("messages", {"text": "你好", "user_id": True}, 400, "请选择考生"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD_INPUT)
async def test_actions__bad_input_is_refused_in_chinese_and_changes_nothing(
    client, watched, proctoring, path, body, status, message
):
    body = dict(body)
    if path in ("force-submit", "void", "extend") and "attempt_id" not in body:
        body["attempt_id"] = watched.attempt.id
    response = await _post(client, f"/api/invigilate/{watched.exam_session.id}/{path}", body)
    assert response.status_code == status
    assert message in (await response.get_json())["message"]
    unchanged = await proctoring.attempt(watched.attempt.id)
    assert unchanged.is_open and unchanged.deadline == watched.attempt.deadline
    assert not unchanged.is_voided
    assert await proctoring.audit_count() == 1 + 1  # the session's creation and assignment


async def test_actions__a_body_that_is_not_json_is_refused(client, watched):
    response = await client.post(
        f"/api/invigilate/{watched.exam_session.id}/extend",
        data="minutes=10",
        headers={"X-CSRF-Token": await csrf_of(client), "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert (await response.get_json())["message"] == "请求格式不正确"


async def test_actions__on_an_attempt_already_ended_are_refused(svc, client, watched, proctoring):
    attempt = watched.attempt
    async with svc.db.write() as db:
        await grading.submit(
            session=db, attempt_id=attempt.id, user_id=attempt.user_id, now=svc.now()
        )
    ended = await proctoring.attempt(attempt.id)
    sid = watched.exam_session.id
    extend = await _post(
        client,
        f"/api/invigilate/{sid}/extend",
        {"attempt_id": attempt.id, "minutes": 5, "reason": "x"},
    )
    assert extend.status_code == 409
    assert (await extend.get_json())["message"] == "该考生的考试已结束，不能延长时间"
    force = await _post(
        client, f"/api/invigilate/{sid}/force-submit", {"attempt_id": attempt.id, "reason": "x"}
    )
    assert force.status_code == 409
    assert (await force.get_json())["message"] == "该考生的本次考试已结束（交卷），不能强制交卷"
    after = await proctoring.attempt(attempt.id)
    assert (after.ended_by, after.ended_at, after.deadline) == (
        ended.ended_by,
        ended.ended_at,
        ended.deadline,
    )


async def test_actions__without_csrf_are_refused(client, watched):
    response = await client.post(
        f"/api/invigilate/{watched.exam_session.id}/messages",
        json={"text": "你好"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert (await response.get_json())["message"] == "页面已过期，请刷新页面后重试"


# ---------------------------------------------------------------------------- admin


@pytest.fixture
async def admin_client(svc, client, proctoring):
    admin = await proctoring.admin()
    await login(client, svc, admin.id_number, PASSWORD)
    return client


def _local(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M")


async def test_admin__creates_a_session_and_assigns_an_invigilator(
    svc, admin_client, proctoring, clock
):
    batch = await proctoring.batch()
    invigilator = await proctoring.invigilator()
    page = await _text(await admin_client.get("/admin/exam-sessions"))
    assert "考场管理" in page and "还没有考场" in page and "新建考场" in page
    response = await _form(
        admin_client,
        "/admin/exam-sessions",
        {
            "batch_id": str(batch.batch.id),
            "name": "第一考场",
            "starts_at": _local(clock.now()),
            "ends_at": _local(clock.now() + dt.timedelta(hours=2)),
            "learners": "",
        },
    )
    assert response.status_code == 302
    page = await _text(await admin_client.get(response.headers["Location"]))
    assert "考场已创建" in page and "第一考场" in page and "全部报名学员" in page
    async with svc.db.read() as db:
        session_id = await db.scalar(ExamSession.__table__.select())
    response = await _form(
        admin_client,
        f"/admin/exam-sessions/{session_id}/invigilators",
        {"id_number": invigilator.id_number},
    )
    assert response.status_code == 302
    page = await _text(await admin_client.get(response.headers["Location"]))
    assert "监考员已指派" in page and "王监考" in page
    response = await _form(
        admin_client, f"/admin/exam-sessions/{session_id}/invigilators/{invigilator.id}/remove", {}
    )
    assert response.status_code == 302
    assert "已取消该监考员" in await _text(await admin_client.get(response.headers["Location"]))


async def test_admin__every_problem_of_the_session_form_is_shown_at_once(
    svc, admin_client, proctoring, clock
):
    batch = await proctoring.batch()
    form = {
        "batch_id": str(batch.batch.id),
        "name": "   ",
        "starts_at": _local(clock.now()),
        "ends_at": _local(clock.now() - dt.timedelta(hours=1)),
        "learners": "110105198503120012",
    }
    response = await _form(admin_client, "/admin/exam-sessions", form)
    assert response.status_code == 400
    page = await _text(response)
    assert "请修改以下 3 处" in page
    assert 'id="err-name"' in page and "请填写考场名称" in page
    assert 'id="err-starts_at"' in page and "结束时间应晚于开始时间" in page
    assert 'id="err-learners"' in page and "不是本批次报名的学员" in page
    # What was typed is kept.
    assert 'value="' + form["starts_at"] + '"' in page and "110105198503120012" in page
    response = await _form(
        admin_client, "/admin/exam-sessions", {**form, "batch_id": "x", "starts_at": ""}
    )
    page = await _text(response)
    assert 'id="err-batch_id"' in page and 'id="err-starts_at"' in page and 'id="err-name"' in page


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_id": ""}, "请选择批次"),
        ({"name": ""}, "请填写考场名称"),
        ({"starts_at": ""}, "请填写开始时间"),
        ({"ends_at": "明天"}, "结束时间格式不正确"),
        ({"ends_at": "PAST"}, "结束时间应晚于开始时间"),
        ({"ends_at": "FAR"}, "考场时间应在本批次考试时间内"),
        ({"learners": "110101199003074258"}, "不是本批次报名的学员"),
    ],
)
async def test_admin__bad_session_input_is_refused_and_creates_nothing(
    svc, admin_client, proctoring, clock, change, message
):
    batch = await proctoring.batch()
    form = {
        "batch_id": str(batch.batch.id),
        "name": "第一考场",
        "starts_at": _local(clock.now()),
        "ends_at": _local(clock.now() + dt.timedelta(hours=2)),
        "learners": "",
    }
    form.update(change)
    if form["ends_at"] == "PAST":
        form["ends_at"] = _local(clock.now() - dt.timedelta(minutes=30))
    if form["ends_at"] == "FAR":
        form["ends_at"] = _local(clock.now() + dt.timedelta(days=60))
    response = await _form(admin_client, "/admin/exam-sessions", form)
    assert response.status_code == 400
    page = await _text(response)
    assert message in page and 'id="admin-error"' in page
    async with svc.db.read() as db:
        assert (await db.scalars(ExamSession.__table__.select())).all() == []


async def test_admin__assigning_a_learner_or_deleting_a_used_session_is_refused(
    svc, admin_client, proctoring
):
    sitting = await proctoring.sitting()
    sid = sitting.exam_session.id
    response = await _form(
        admin_client,
        f"/admin/exam-sessions/{sid}/invigilators",
        {"id_number": sitting.learners[0].id_number},
    )
    assert response.status_code == 400 and "不是监考员" in await _text(response)
    await proctoring.start(sitting.learners[0], sitting.batch)
    response = await _form(admin_client, f"/admin/exam-sessions/{sid}/delete", {})
    assert response.status_code == 409 and "不能删除" in await _text(response)


async def test_admin__the_section_shows_in_the_admin_menu(admin_client):
    page = await _text(await admin_client.get("/admin"))
    assert "考场管理" in page and "/admin/exam-sessions" in page


# ---------------------------------------------------------------------------- the learner


async def test_records__say_forced_and_voided(svc, client, proctoring, clock):
    sitting = await proctoring.sitting()
    learner = sitting.learners[0]
    first = await proctoring.start(learner, sitting.batch)
    async with svc.db.write() as db:
        await grading.force_submit(session=db, attempt_id=first.id, now=svc.now(), why="违纪")
    await login(client, svc, learner.id_number, PASSWORD)
    page = await _text(await client.get("/exams/records"))
    assert "监考强制交卷" in page
    page = await _text(await client.get(f"/exams/attempts/{first.id}"))
    assert "监考强制交卷" in page


async def test_my_exams__shows_the_focus_rule_before_starting(svc, client, proctoring):
    from tests.exams.conftest import SMALL

    sitting = await proctoring.sitting(policy={**SMALL, "focus_warn_at": 3, "focus_submit_at": 5})
    await login(client, svc, sitting.learners[0].id_number, PASSWORD)
    page = await _text(await client.get("/exams"))
    assert "第 3 次离开时系统将提醒您" in page and "累计离开 5 次系统将自动交卷" in page
