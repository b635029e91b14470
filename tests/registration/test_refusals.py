"""Each refusal of the registration pages, as the person meets it: the status, the Chinese
message on the page, and nothing changed."""

import pytest

from app.registration.models import Status
from tests.factories import CSRF, login
from tests.registration.conftest import EMPLOYER

PASSWORD = "Str0ng-Pass!"


async def _post(client, path, form, page="/registration"):
    text = await (await client.get(page)).get_data(as_text=True)
    response = await client.post(path, form={"csrf_token": CSRF.search(text).group(1), **form})
    return response.status_code, await response.get_data(as_text=True)


async def test_applicant__refusals_while_filling_in(client, svc, reg, world):
    authority, _, _, user = world
    await login(client, svc, user.id_number, PASSWORD)
    status, page = await _post(client, "/registration/start/transfer", {})
    assert (status, "没有这种注册申请" in page) == (404, True)
    status, page = await _post(client, "/registration/start/renewal", {})
    assert status == 409 and "您目前不能申请延续注册" in page
    status, page = await _post(
        client, "/registration/qualify", {"name": "张安全", "certificate_no": "ZZ1"}
    )
    assert status == 400 and "资格" in page
    await reg.start(user)
    response = await client.get("/registration/apply/education")
    assert response.status_code == 404
    assert "只有延续注册和逾期初始注册需要填写继续教育信息" in await response.get_data(as_text=True)
    status, page = await _post(
        client,
        "/registration/apply/channel",
        {"channel": "mars", "authority_id": str(authority.id)},
    )
    assert status == 400 and "请选择注册渠道（省级、部委或中央企业）" in page
    status, page = await _post(
        client,
        "/registration/apply/channel",
        {"channel": "ministry", "authority_id": str(authority.id), "category": "化工安全"},
    )
    assert status == 400 and "属于省级渠道" in page
    status, page = await _post(
        client,
        "/registration/apply/channel",
        {"channel": "province", "authority_id": str(authority.id), "category": "煤矿安全"},
    )
    assert status == 400 and "只能选择您取得资格的类别（化工安全）" in page
    status, page = await _post(client, "/registration/apply/experience/zzzz/delete", {})
    assert status == 404 and "该条工作经历不存在" in page
    assert (await reg.application(user)).authority_id is None


async def test_applicant__no_photo_no_submission_and_the_page_says_where(client, svc, reg, world):
    authority, _, _, _ = world
    user = await reg.applicant(name="林无照", photo=False)
    await reg.start(user)
    await reg.fill(user, authority)
    await login(client, svc, user.id_number, PASSWORD)
    status, page = await _post(client, "/registration/apply/submit", {})
    assert status == 400
    assert "请先在“个人基本信息”中上传本人照片" in page and 'href="/registration/personal"' in page
    assert (await reg.application(user)).status == Status.DRAFT


async def test_applicant__under_review_nothing_can_be_edited_or_withdrawn(client, svc, reg, world):
    authority, _, _, user = world
    await reg.submitted(user, authority)
    await login(client, svc, user.id_number, PASSWORD)
    for path, form in (
        ("/registration/apply/employer", {**EMPLOYER, "name": "改名公司"}),
        ("/registration/apply/withdraw", {}),
        ("/registration/apply/submit", {}),
    ):
        status, page = await _post(client, path, form)
        assert status == 409 and "审核期间不能修改" in page, path
    application = await reg.application(user)
    assert application.status == Status.SUBMITTED and application.submissions == 1


@pytest.mark.parametrize(
    ("outcome", "form", "words"),
    [
        ("return", {}, "退回申请须至少填写一项退回原因"),
        ("maybe", {}, "请选择“初审通过”或“退回修改”"),
    ],
)
async def test_review__first_stage_refusals(client, svc, reg, world, outcome, form, words):
    authority, first, _, user = world
    application = await reg.submitted(user, authority)
    await login(client, svc, first.id_number, PASSWORD)
    status, page = await _post(
        client, f"/review/{application.id}/first", {"outcome": outcome, **form}, "/review"
    )
    assert status == 400 and words in page
    assert (await reg.application(user)).status == Status.SUBMITTED


@pytest.mark.parametrize(
    ("outcome", "reason", "words"),
    [
        ("reject", "", "不予注册须填写理由"),
        ("reject", "理" * 301, "理由不能超过300字（现为301字）"),
        ("perhaps", "", "请选择“终审通过”或“不予注册”"),
    ],
)
async def test_review__final_stage_refusals(client, svc, reg, world, outcome, reason, words):
    authority, first, final, user = world
    application = await reg.submitted(user, authority)
    await reg.first(first, application.id)
    await login(client, svc, final.id_number, PASSWORD)
    status, page = await _post(
        client, f"/review/{application.id}/final", {"outcome": outcome, "reason": reason}, "/review"
    )
    assert status == 400 and words in page
    assert (await reg.application(user)).status == Status.FIRST_APPROVED


async def test_review__one_s_own_application_is_refused(client, svc, reg, world, factory):
    authority, _, _, _ = world
    both = await reg.reviewer(authority, name="韩自审")
    async with svc.db.write() as db:
        from app.accounts.models import UserRole

        db.add(UserRole(user_id=both.id, role="registrant"))
    await reg.qualification(both)
    await reg.certs.upload_photo(both)
    application = await reg.submitted(both, authority)
    await login(client, svc, both.id_number, PASSWORD)
    status, page = await _post(
        client, f"/review/{application.id}/first", {"outcome": "approve"}, "/review"
    )
    assert status == 403 and "不能审核本人的注册申请" in page
    assert (await reg.application(both)).status == Status.SUBMITTED
