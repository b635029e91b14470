"""Routes: who may see what (403s), each bad input refused with a Chinese message, no 500."""

import asyncio
import datetime as dt
import io
import json
import re

import pypdf
import pytest
from docx import Document
from openpyxl import Workbook
from quart.datastructures import FileStorage
from sqlalchemy import func, select

from app.messaging import read_mailbox
from app.registration import access
from app.registration.models import Application, Qualification
from tests.factories import CSRF, captcha_answer, login, new_id_number
from tests.registration.conftest import EMPLOYER, EXPERIENCE, PERSONAL

PASSWORD = "Str0ng-Pass!"


async def _csrf(client, path="/registration") -> str:
    page = await (await client.get(path)).get_data(as_text=True)
    return CSRF.search(page).group(1)


async def _post(client, path, form, csrf_from="/registration"):
    return await client.post(path, form={"csrf_token": await _csrf(client, csrf_from), **form})


async def _text(response) -> str:
    return await response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("roles", "path", "status"),
    [
        (("learner",), "/review", 403),
        (("registrant",), "/review", 403),
        (("learner",), "/admin/registration/rules", 403),
        (("reviewer",), "/admin/registration/qualifications", 403),
        (("final_reviewer",), "/admin/registration/authorities", 403),
        (("reviewer",), "/review", 200),
        (("final_reviewer",), "/review", 200),
        (("admin",), "/admin/registration/registrations", 200),
        (("registrant",), "/registration", 200),
    ],
)
async def test_roles__pages_are_for_their_roles(client, svc, factory, roles, path, status):
    user = await factory.user(roles=roles)
    await login(client, svc, user.id_number, PASSWORD)
    assert (await client.get(path)).status_code == status


async def test_anonymous__is_sent_to_login_but_verification_is_public(client):
    assert (await client.get("/registration")).status_code == 302
    response = await client.get("/registration/verify/20260000000000")
    assert response.status_code == 404 and "未找到注册编号" in await _text(response)


async def test_review__a_reviewer_of_another_authority_gets_403(client, svc, reg, world):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    other = await reg.reviewer(await reg.authority("北京市应急管理局"), name="郑外省")
    await login(client, svc, other.id_number, PASSWORD)
    assert (await client.get(f"/review/{application.id}")).status_code == 403


async def test_home__nav_and_status_for_an_applicant(client, svc, reg, world):
    authority, _, _, user = world
    await login(client, svc, user.id_number, PASSWORD)
    page = await _text(await client.get("/registration"))
    assert "注册管理" in page and "开始初始注册" in page and "公告信息" in page


async def test_bad_input__each_is_refused_in_chinese_and_nothing_is_stored(client, svc, reg, world):
    authority, _, _, user = world
    await login(client, svc, user.id_number, PASSWORD)
    await reg.start(user)
    before = (await reg.application(user)).content
    response = await _post(
        client, "/registration/apply/employer", {**EMPLOYER, "uscc": "91110000600037341N"}
    )
    assert response.status_code == 400 and "校验位不正确" in await _text(response)
    await _post(client, "/registration/apply/experience", EXPERIENCE)
    response = await _post(
        client,
        "/registration/apply/experience",
        {**EXPERIENCE, "start": "2015-01", "end": "2017-01", "unit": "乙"},
    )
    assert response.status_code == 400 and "时间重叠" in await _text(response)
    application = await reg.application(user)
    assert json.loads(application.content)["employer"] == json.loads(before)["employer"]
    assert len(json.loads(application.content)["experiences"]) == 1
    response = await _post(client, "/registration/start/initial", {})
    assert response.status_code == 409 and "同一时间只能办理一份申请" in await _text(response)
    response = await _post(client, "/registration/personal", {**PERSONAL, "mobile": "123"})
    assert response.status_code == 400 and "11位手机号" in await _text(response)


async def test_submit__incomplete_application_says_which_step_to_fix(client, svc, reg, world):
    authority, _, _, user = world
    await login(client, svc, user.id_number, PASSWORD)
    await reg.start(user)
    response = await _post(client, "/registration/apply/submit", {})
    page = await _text(response)
    assert response.status_code == 400 and "个人基本信息尚未填写完整" in page and "去修改" in page
    assert (await reg.application(user)).status == "draft"


async def test_review__out_of_order_and_both_stages_are_refused_on_the_page(
    client, svc, reg, world, factory
):
    authority, first, final, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    await reg.submit(user)
    application = await reg.application(user)
    await login(client, svc, final.id_number, PASSWORD)
    response = await _post(
        client, f"/review/{application.id}/final", {"outcome": "approve"}, "/review"
    )
    assert response.status_code == 409 and "须先由注册机构初审" in await _text(response)


async def test_forms__pdf_and_docx_of_the_draft(client, svc, reg, world):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)
    await login(client, svc, user.id_number, PASSWORD)
    pdf = await client.get("/registration/apply/form.pdf")
    assert pdf.status_code == 200 and (await pdf.get_data()).startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(await pdf.get_data()))
    assert len(reader.pages) == 2  # one sheet, printed on both sides
    assert "注册安全工程师初始注册申请表" in reader.pages[0].extract_text()
    docx = await client.get("/registration/apply/form.docx")
    data = await docx.get_data()
    assert data[:2] == b"PK" and "attachment" in docx.headers["Content-Disposition"]
    text = "\n".join(
        c.text for t in Document(io.BytesIO(data)).tables for r in t.rows for c in r.cells
    )
    assert "91110000600037341L" in text and "天津某建设集团有限公司" in text


# ---------------------------------------------------------------------------- access


async def _anonymous_form(client, svc, path):
    page = await _text(await client.get(path))
    captcha_id = re.search(r'id="captcha-id" value="([^"]+)"', page).group(1)
    return {
        "csrf_token": CSRF.search(page).group(1),
        "captcha_id": captcha_id,
        "captcha": await captcha_answer(svc.redis, captcha_id),
    }


async def test_setup_password__passport_holder_verifies_then_sets_a_password(client, svc, reg):
    async with svc.db.write() as db:
        db.add(Qualification(name="陈港澳", id_type="hk_macao_permit", id_number="H12345678",
                             certificate_no="ZA20249999", level="中级", category="化工安全",
                             qualified_on=dt.date(2025, 6, 1), imported_at=svc.now()))  # fmt: skip
    form = await _anonymous_form(client, svc, "/registration/setup-password")
    bad = {**form, "id_type": "hk_macao_permit", "id_number": "H12345678", "name": "陈港澳",
           "certificate_no": "ZA20240000"}  # fmt: skip
    response = await client.post("/registration/setup-password", form=bad)
    assert response.status_code == 400 and "资格信息验证未通过" in await _text(response)
    form = await _anonymous_form(client, svc, "/registration/setup-password")
    response = await client.post(
        "/registration/setup-password", form={**bad, **form, "certificate_no": "ZA20249999"}
    )
    assert response.status_code == 302
    target = response.headers["Location"]
    page = await _text(await client.get(target))
    weak = {"csrf_token": CSRF.search(page).group(1), "gender": "女", "password": "Gang-345678",
            "confirm_password": "Gang-345678"}  # fmt: skip
    response = await client.post(target, form=weak)
    assert "新密码不能包含通行证号码后六位" in await _text(response)
    response = await client.post(
        target, form={**weak, "password": "Gang-Ao#2026", "confirm_password": "Gang-Ao#2026"}
    )
    assert response.status_code == 302
    response = await login(client, svc, "H12345678", "Gang-Ao#2026", id_type="hk_macao_permit")
    assert response.status_code == 302 and response.headers["Location"] == "/registration"
    assert (await client.get(target)).status_code == 410  # the verification is used up


async def test_setup_password__an_existing_learner_is_told_to_use_the_account(client, svc, reg):
    user = await reg.applicant()
    form = await _anonymous_form(client, svc, "/registration/setup-password")
    async with svc.db.read() as db:
        number = await db.scalar(
            select(Qualification.certificate_no).where(Qualification.user_id == user.id)
        )
    response = await client.post("/registration/setup-password", form={
        **form, "id_number": user.id_number, "name": user.name, "certificate_no": number})  # fmt: skip
    assert response.status_code == 409 and "请直接用原密码登录" in await _text(response)


async def test_forgot_password__same_answer_mail_link_single_use(client, svc, reg, world, worker):
    authority, _, _, user = world
    await reg.start(user)
    await reg.fill(user, authority)  # leaves zhang@example.com in the registration information
    answers = []
    for number in (user.id_number, new_id_number()):  # an account, and no account at all
        form = await _anonymous_form(client, svc, "/registration/forgot-password")
        form.update(id_type="id_card", id_number=number)
        page = await _text(await client.post("/registration/forgot-password", form=form))
        answers.append(re.search(r'id="forgot-answer">([^<]*)<', page).group(1))
    assert answers[0] == answers[1] and "联系您的注册机构" in answers[0]
    for _ in range(100):
        mails = await read_mailbox(svc.redis, "zhang@example.com")
        if any("重置" in m["subject"] for m in mails):
            break
        await asyncio.sleep(0.05)
    link = re.search(
        r"/registration/reset-password/\S+",
        next(m for m in mails if "重置" in m["subject"])["text"],
    ).group(0)
    page = await _text(await client.get(link))
    form = {
        "csrf_token": CSRF.search(page).group(1),
        "password": "New-Pass#2026",
        "confirm_password": "New-Pass#2026",
    }
    assert (await client.post(link, form=form)).status_code == 302
    assert (await client.get(link)).status_code == 410
    assert (await login(client, svc, user.id_number, "New-Pass#2026")).status_code == 302


async def test_forgot_password__is_rate_limited(client, svc, factory):
    for _ in range(2):
        form = await _anonymous_form(client, svc, "/registration/forgot-password")
        response = await client.post("/registration/forgot-password",
                                     form={**form, "id_type": "passport", "id_number": "E12345678"})  # fmt: skip
    assert response.status_code == 429 and "秒后再试" in await _text(response)


async def test_setup_password__identity_checks_are_limited_and_leave_no_number_in_redis(
    client, svc, reg
):
    user = await reg.applicant()
    guesses = {"id_type": "id_card", "id_number": user.id_number, "name": user.name}
    for n in range(access.VERIFY_PER_HOUR):
        form = await _anonymous_form(client, svc, "/registration/setup-password")
        response = await client.post(
            "/registration/setup-password", form={**form, **guesses, "certificate_no": f"ZA{n}"}
        )
        assert response.status_code == 400  # a wrong certificate number: 资格信息验证未通过
    form = await _anonymous_form(client, svc, "/registration/setup-password")
    response = await client.post(
        "/registration/setup-password", form={**form, **guesses, "certificate_no": "ZA-next"}
    )
    assert response.status_code == 429 and "身份验证次数过多" in await _text(response)
    form = await _anonymous_form(client, svc, "/registration/forgot-password")
    await client.post("/registration/forgot-password", form={**form, **guesses})
    keys = [k.decode() if isinstance(k, bytes) else k async for k in svc.redis.scan_iter("pw*")]
    assert any(k.startswith("pwverify:doc:") for k in keys)
    assert any(k.startswith("pwforgot:doc:") for k in keys)
    assert not any(user.id_number in k for k in keys)


async def test_reset__an_expired_link_is_refused(client, svc, clock):
    assert (await client.get("/registration/reset-password/" + "x" * 43)).status_code == 410


# ---------------------------------------------------------------------------- admin


def _xlsx(rows) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_admin__qualification_import_reports_each_bad_row(client, svc, factory):
    admin = await factory.user(roles=("admin",))
    await login(client, svc, admin.id_number, PASSWORD)
    data = _xlsx([
        ["姓名", "证件类型", "证件号码", "资格证书编号", "级别", "专业类别", "取得资格日期"],
        ["张安全", "居民身份证", "120102199003074512", "ZA2024A001", "中级", "化工安全", "2024-05-10"],
        ["李四", "护照", "E1234", "ZA2024A002", "中级", "化工安全", "2024/5/10"],
        ["王五", "居民身份证", "120102199003074512", "ZA2024A001", "中级", "消防安全", "2024-05-10"],
    ])  # fmt: skip
    page = await _text(await client.get("/admin/registration/qualifications"))
    response = await client.post(
        "/admin/registration/qualifications/import",
        form={"csrf_token": CSRF.search(page).group(1)},
        files={"file": FileStorage(io.BytesIO(data), filename="资格.xlsx")},
    )
    text = await _text(response)
    assert "新增 1 条" in text and "错误 2 行" in text
    assert "E 加8位数字" in text and "与第2行重复" in text and "不在规定的七个类别" in text
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count(Qualification.id))) == 1


async def test_application_count_is_one_even_after_the_refusals(svc, reg, world):
    _, _, _, user = world
    await reg.start(user)
    async with svc.db.read() as db:
        assert await db.scalar(select(func.count(Application.id))) == 1
