"""学员档案 (the learner record) with its PDF, creating a learner by hand, enrolling,
moving between batches and unlocking a locked account."""

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.accounts import service as accounts
from app.accounts import throttle
from app.accounts.models import User
from app.learning.models import Enrolment
from tests.admin.conftest import person_id
from tests.admin.helpers import audit_count, field_error, plain, post, text
from tests.exams.conftest import Exams
from tests.factories import Factory


@pytest.fixture
def exams(svc, factory):
    return Exams(svc, factory)


async def studied_and_sat(svc, exams):
    """A learner who studied on two days and sat (and handed in) one paper."""
    batch = await exams.batch()
    learner = await exams.eligible(batch, name="张档案")
    attempt = await exams.start(learner, batch)
    await exams.join(attempt)
    from app.exams import grading

    async with svc.db.write() as db:
        await grading.submit(session=db, attempt_id=attempt.id, user_id=learner.id, now=svc.now())
    return batch, learner, attempt


async def test_record__shows_progress_days_attempts_and_the_audit_trail(admin_client, svc, exams):
    batch, learner, attempt = await studied_and_sat(svc, exams)
    await post(admin_client, f"/admin/learners/{learner.id}/phone", phone="13800000009", op="save")
    page = plain(await text(await admin_client.get(f"/admin/learners/{learner.id}")))
    assert "张档案 的学员档案" in page
    assert "3/3 分钟" in page and "2/2 分钟" in page and "2/2 天" in page  # total, public, days
    assert "安全生产法律法规" in page and "化工安全" in page and "已完成" in page
    assert "学习天数（2 天）" in page
    assert "考试记录" in page and "进入考试" in page and "交卷" in page
    assert "更改手机号" in page and "13800000009" in page


async def test_record__exports_as_a_pdf(admin_client, svc, exams):
    _, learner, _ = await studied_and_sat(svc, exams)
    response = await admin_client.get(f"/admin/learners/{learner.id}/record.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(await response.get_data()))
    content = "".join(page.extract_text() for page in reader.pages)
    assert "学员档案" in content and "张档案" in content and "安全生产法律法规" in content
    assert "考试记录" in content


async def test_create_learner__by_hand_with_a_batch(admin_client, svc, batch):
    number = person_id("女")
    response = await post(
        admin_client,
        "/admin/learners/new",
        id_number=number,
        name="周新",
        gender="女",
        work_unit="天津港",
        batch_id=str(batch.id),
    )
    assert response.status_code == 302, await text(response)
    async with svc.db.read() as db:
        user = await db.scalar(select(User).where(User.id_number == number))
        enrolled = await db.scalar(select(Enrolment.id).where(Enrolment.user_id == user.id))
    assert user.must_change_password and user.has_role("learner") and enrolled
    assert await audit_count(svc, "learner.create") == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"id_number": "123"}, "id_number", "身份证号应为18位"),
        ({"gender": "男"}, "gender", "性别与身份证号不符"),
        ({"name": ""}, "name", "请填写姓名"),
        ({"gender": ""}, "gender", "请选择性别"),
    ],
)
async def test_create_learner__bad_values_are_refused(admin_client, svc, fields, field, message):
    form = {"id_number": person_id("女"), "name": "周新", "gender": "女", "work_unit": ""}
    form.update(fields)
    response = await post(admin_client, "/admin/learners/new", **form)
    assert response.status_code == 400
    assert message in (field_error(await text(response), field) or "")
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count(User.id))) == 1  # the admin only


async def test_create_learner__an_existing_id_number_is_refused(admin_client, svc, factory):
    existing = await factory.user(id_number=person_id("女"))
    response = await post(
        admin_client, "/admin/learners/new", id_number=existing.id_number, name="周新", gender="女"
    )
    assert response.status_code == 400
    assert "账号已存在" in field_error(await text(response), "id_number")


async def test_enrol_and_move__between_batches(admin_client, svc, factory, batch):
    learner = await factory.user()
    second = await Factory(svc).batch("第二期")
    assert (
        await post(admin_client, f"/admin/learners/{learner.id}/enrol", batch_id=str(batch.id))
    ).status_code == 302
    again = await post(admin_client, f"/admin/learners/{learner.id}/enrol", batch_id=str(batch.id))
    assert again.status_code == 400 and "已报名" in await text(again)
    same = await post(
        admin_client,
        f"/admin/learners/{learner.id}/move",
        source_id=str(batch.id),
        target=str(batch.id),
    )
    assert same.status_code == 400 and "请选择另一个批次" in field_error(await text(same), "target")
    moved = await post(
        admin_client,
        f"/admin/learners/{learner.id}/move",
        source_id=str(batch.id),
        target=str(second.id),
    )
    assert moved.status_code == 302
    async with svc.db.read() as db:
        batches = set(
            await db.scalars(select(Enrolment.batch_id).where(Enrolment.user_id == learner.id))
        )
    assert batches == {second.id}
    assert await audit_count(svc, "enrolment.move") == 1


async def test_move__a_learner_who_sat_the_exam_stays(admin_client, svc, exams):
    batch, learner, _ = await studied_and_sat(svc, exams)
    other = await Factory(svc).batch("第三期")
    response = await post(
        admin_client,
        f"/admin/learners/{learner.id}/move",
        source_id=str(batch.batch.id),
        target=str(other.id),
    )
    assert response.status_code == 400
    assert "已在《考试测试批次》参加过 1 次考试，不能转批次" in field_error(
        await text(response), "target"
    )


async def test_unlock__a_locked_account_can_log_in_again(admin_client, svc, factory):
    learner = await factory.user()
    limits = accounts.login_limits(svc.config)
    for _ in range(svc.config.login_lock_after):
        await throttle.record_failure(
            svc.redis,
            accounts.throttle_subject(learner.id_type, learner.id_number),
            "9.9.9.9",
            now=svc.now().timestamp(),
            limits=limits,
        )
    page = plain(await text(await admin_client.get(f"/admin/learners/{learner.id}")))
    assert "登录失败次数过多，锁定至" in page
    assert (await post(admin_client, f"/admin/learners/{learner.id}/unlock")).status_code == 302
    async with svc.db.read() as db:
        user = await db.get(User, learner.id)
    assert (
        await accounts.locked_until(svc.redis, config=svc.config, user=user, now=svc.now()) is None
    )
    again = await post(admin_client, f"/admin/learners/{learner.id}/unlock")
    assert again.status_code == 400 and "该账号未被锁定" in await text(again)
    assert await audit_count(svc, "learner.unlock") == 1
