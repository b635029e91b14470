"""批次管理: creating and editing batches, every bad value refused next to its field,
closing, and enrolling learners by ID number."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.learning.models import Batch, Enrolment
from tests.admin.helpers import audit_count, batch_form, field_error, local, plain, post, text
from tests.factories import Factory, new_id_number


async def batch_count(svc) -> int:
    async with svc.db.read() as db:
        return await db.scalar(select(func.count(Batch.id)))


async def test_create__a_sensible_batch_is_saved_and_audited(admin_client, svc):
    response = await post(admin_client, "/admin/batches/new", **batch_form(svc.now()))
    assert response.status_code == 302
    async with svc.db.read() as db:
        batch = await db.scalar(select(Batch))
    assert batch.name == "注册安全工程师继续教育 2026年第二期"
    assert (batch.required_minutes, batch.required_public_minutes) == (1280, 640)
    assert batch.attention_checks and batch.attention_max_minutes == 20
    assert response.headers["Location"] == f"/admin/batches/{batch.id}?done=created"
    page = await text(await admin_client.get(response.headers["Location"]))
    assert "批次已建立" in page and "考试规则" in page
    assert await audit_count(svc, "batch.create") == 1
    listing = await text(await admin_client.get("/admin/batches"))
    assert batch.name in listing and "未设置" in listing


BAD = [
    ({"name": ""}, "name", "请填写批次名称"),
    ({"required_minutes": "abc"}, "required_minutes", "应学总时长应为整数"),
    (
        {"required_public_minutes": "2000"},
        "required_public_minutes",
        "公共课应学时长不能超过应学总时长",
    ),
    ({"min_study_days": "-1"}, "min_study_days", "最少学习天数应在 0 到 365 之间"),
    ({"study_deadline": "明天"}, "study_deadline", "学习截止时间格式不正确"),
    ({"study_deadline": "d-1"}, "study_deadline", "学习截止时间必须晚于现在"),
    ({"study_deadline": "d+5"}, "study_deadline", "学员无法达到最少学习天数 10 天"),
    ({"exam_closes_at": "d+10"}, "exam_closes_at", "考试结束时间必须晚于考试开始时间"),
    ({"exam_closes_at": "d+40"}, "exam_closes_at", "考试结束时间不能早于学习截止时间"),
    (
        {"exam_opens_at": "d+200", "exam_closes_at": "d+230"},
        "exam_opens_at",
        "学习截止后 90 天内开始",
    ),
    (
        {"attention_min_minutes": "30", "attention_max_minutes": "20"},
        "attention_max_minutes",
        "防挂机最长间隔不能小于最短间隔",
    ),
    ({"attention_min_minutes": "0"}, "attention_min_minutes", "防挂机最短间隔应在 1 到 120 之间"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
async def test_create__bad_values_are_refused_next_to_the_field(
    admin_client, svc, change, field, message
):
    now = svc.now()
    values = {
        k: local(now + dt.timedelta(days=int(v[1:]))) if v.startswith("d") else v
        for k, v in change.items()
    }
    response = await post(admin_client, "/admin/batches/new", **batch_form(now, **values))
    assert response.status_code == 400
    page = await text(response)
    assert message in (field_error(page, field) or ""), page[:3000]
    assert "批次尚未保存" in page
    assert await batch_count(svc) == 0
    assert await audit_count(svc, "batch.create") == 0


async def test_create__a_taken_name_is_refused(admin_client, svc):
    await Factory(svc).batch("重名批次")
    response = await post(
        admin_client, "/admin/batches/new", **batch_form(svc.now(), name="重名批次")
    )
    assert response.status_code == 400
    assert "已有名为《重名批次》的批次" in field_error(await text(response), "name")
    assert await batch_count(svc) == 1


async def test_update__changes_are_saved_with_before_and_after(admin_client, svc, batch):
    form = batch_form(svc.now(), name=batch.name, required_minutes=640, required_public_minutes=320)
    form["study_deadline"] = local(batch.study_deadline)
    form["exam_opens_at"] = local(batch.exam_opens_at)
    form["exam_closes_at"] = local(batch.exam_closes_at)
    form["min_study_days"] = "12"
    response = await post(admin_client, f"/admin/batches/{batch.id}", **form)
    assert response.status_code == 302, await text(response)
    async with svc.db.read() as db:
        assert (await db.get(Batch, batch.id)).min_study_days == 12
    log = await text(await admin_client.get("/admin/audit?action=batch.update"))
    assert "最少学习天数" in log and "10" in log and "12" in log


async def test_update__a_bad_value_changes_nothing(admin_client, svc, batch):
    form = batch_form(svc.now(), name=batch.name, required_public_minutes=5000)
    response = await post(admin_client, f"/admin/batches/{batch.id}", **form)
    assert response.status_code == 400
    assert "不能超过应学总时长" in field_error(await text(response), "required_public_minutes")
    async with svc.db.read() as db:
        assert (await db.get(Batch, batch.id)).required_public_minutes == 320


async def test_close__stops_study_and_exams_and_refuses_enrolment(
    admin_client, svc, batch, factory
):
    response = await post(admin_client, f"/admin/batches/{batch.id}/close")
    assert response.status_code == 302
    async with svc.db.read() as db:
        closed = await db.get(Batch, batch.id)
    assert closed.closed_at == svc.now()
    assert closed.study_deadline == svc.now() and closed.exam_closes_at == svc.now()
    learner = await factory.user(name="晚报名")
    response = await post(
        admin_client, f"/admin/batches/{batch.id}/enrol", id_numbers=learner.id_number
    )
    assert response.status_code == 400
    assert "已结束，不能再报名" in field_error(await text(response), "id_numbers")
    response = await post(admin_client, f"/admin/batches/{batch.id}/reopen")
    assert response.status_code == 302
    async with svc.db.read() as db:
        assert (await db.get(Batch, batch.id)).closed_at is None


async def test_enrol__many_id_numbers_with_a_report_per_line(admin_client, svc, batch, factory):
    one = await factory.user(name="甲", roles=("invigilator",))
    two = await factory.user(name="乙")
    await post(admin_client, f"/admin/batches/{batch.id}/enrol", id_numbers=two.id_number)
    unknown = new_id_number()
    lines = f"{one.id_number}\n{two.id_number}\n123\n{unknown}\n"
    response = await post(admin_client, f"/admin/batches/{batch.id}/enrol", id_numbers=lines)
    page = plain(await text(response))
    assert "新报名 1 人，已报名 1 人，错误 2 行" in page
    assert "第 3 行 123：身份证号应为18位" in page
    assert f"第 4 行 {unknown}：系统中没有该身份证号的账号" in page
    async with svc.db.read() as db:
        enrolled = set(
            await db.scalars(select(Enrolment.user_id).where(Enrolment.batch_id == batch.id))
        )
    assert enrolled == {one.id, two.id}


async def test_enrol__an_empty_list_is_refused(admin_client, batch):
    response = await post(admin_client, f"/admin/batches/{batch.id}/enrol", id_numbers="  \n")
    assert response.status_code == 400
    assert "请输入要报名的学员身份证号" in field_error(await text(response), "id_numbers")


async def test_batch_pages__need_the_admin_role(app, svc, factory, batch):
    from tests.factories import login

    learner = await factory.user()
    client = app.test_client()
    await login(client, svc, learner.id_number, "Str0ng-Pass!")
    for path in ("/admin/batches", f"/admin/batches/{batch.id}", "/admin/batches/new"):
        assert (await client.get(path)).status_code == 403
    response = await post(client, "/admin/batches/new", **batch_form(svc.now()))
    assert response.status_code == 403


async def test_batch_forms__need_the_csrf_token(admin_client, svc):
    response = await admin_client.post("/admin/batches/new", form=batch_form(svc.now()))
    assert response.status_code == 400
    assert await batch_count(svc) == 0
