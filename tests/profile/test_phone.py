import asyncio
import re

import pytest

from app.messaging import read_outbox
from tests.factories import csrf_of, login

PASSWORD = "Str0ng-Pass!"
PHONE = "13912345678"


@pytest.fixture
async def learner(client, svc, factory):
    user = await factory.user()
    await login(client, svc, user.id_number, PASSWORD)
    return user


async def _post(client, url, body):
    response = await client.post(url, json=body, headers={"X-CSRF-Token": await csrf_of(client)})
    return response.status_code, await response.get_json()


async def _sent_code(svc, phone: str) -> str:
    """Wait for the worker to deliver the SMS, then read the code from the log gateway."""
    async with asyncio.timeout(15):  # a guard: the worker may still be starting
        while not (texts := await read_outbox(svc.redis, phone)):
            await asyncio.sleep(0.02)
    return re.search(r"验证码为(\d{6})", texts[0]).group(1)


async def test_bind_phone__code_from_the_sms_binds_it(client, svc, learner, worker):
    status, body = await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    assert status == 200 and body["resend_after"] == 60
    code = await _sent_code(svc, PHONE)
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code})
    assert status == 200 and body["message"] == "手机号绑定成功"
    page = await (await client.get("/profile")).get_data(as_text=True)
    assert "139****5678" in page


async def test_bind_phone__code_works_only_once(client, svc, learner, worker, factory):
    await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    code = await _sent_code(svc, PHONE)
    assert (await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code}))[
        0
    ] == 200
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code})
    assert status == 400 and "已绑定" in body["message"]


async def test_bind_phone__expired_code_is_refused(client, svc, learner, worker, clock):
    await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    code = await _sent_code(svc, PHONE)
    clock.advance(minutes=10, seconds=1)
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code})
    assert status == 400 and body["code"] == "sms_code_expired"
    assert "过期" in body["message"]


async def test_bind_phone__five_wrong_tries_void_the_code(client, svc, learner, worker):
    await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    code = await _sent_code(svc, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        status, body = await _post(
            client, "/api/profile/phone/bind", {"phone": PHONE, "code": wrong}
        )
        assert body["message"] == f"验证码错误，还可尝试 {left} 次"
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": wrong})
    assert body["code"] == "sms_code_void"
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code})
    assert body["code"] == "sms_code_missing"


async def test_request_code__resend_waits_sixty_seconds(client, svc, learner, clock):
    assert (await _post(client, "/api/profile/phone/code", {"phone": PHONE}))[0] == 200
    clock.advance(seconds=20)
    status, body = await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    assert status == 429 and "40 秒后" in body["message"]
    clock.advance(seconds=40)
    assert (await _post(client, "/api/profile/phone/code", {"phone": PHONE}))[0] == 200


@pytest.mark.parametrize("phone", ["", "1391234567", "23912345678", "1391234567a", "12912345678"])
async def test_request_code__malformed_phone_is_refused(client, learner, phone):
    status, body = await _post(client, "/api/profile/phone/code", {"phone": phone})
    assert status == 400 and body["message"] == "请输入正确的11位手机号码"


async def test_bind_phone__code_for_another_number_is_refused(client, svc, learner, worker):
    await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    code = await _sent_code(svc, PHONE)
    status, body = await _post(
        client, "/api/profile/phone/bind", {"phone": "13700000000", "code": code}
    )
    assert body["code"] == "sms_code_phone"


async def test_bind_phone__without_requesting_a_code_is_refused(client, learner):
    status, body = await _post(
        client, "/api/profile/phone/bind", {"phone": PHONE, "code": "123456"}
    )
    assert status == 400 and body["message"] == "请先获取验证码"


async def test_bind_phone__malformed_code_is_refused(client, learner):
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": "12ab"})
    assert body["code"] == "sms_code_format"


async def test_bound_phone__cannot_be_changed_by_the_learner(client, svc, learner, worker):
    await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    code = await _sent_code(svc, PHONE)
    await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code})
    status, body = await _post(client, "/api/profile/phone/code", {"phone": "13700000000"})
    assert status == 400 and "联系管理员" in body["message"]


async def test_phone__bound_to_another_account_is_refused_neutrally(
    client, svc, learner, factory, worker
):
    await factory_bind(svc, factory, PHONE)
    # Asking for a code does not tell whether the number is registered ...
    status, body = await _post(client, "/api/profile/phone/code", {"phone": PHONE})
    assert status == 200 and body["ok"]
    # ... and the owner of the phone, code in hand, is told neutrally, with no account named.
    code = await _sent_code(svc, PHONE)
    status, body = await _post(client, "/api/profile/phone/bind", {"phone": PHONE, "code": code})
    assert status == 400 and body["code"] == "phone_unavailable"
    assert body["message"] == "该手机号无法绑定到您的账号，请使用其他手机号；如有疑问请联系客服"
    assert "其他账号" not in body["message"]


async def factory_bind(svc, factory, phone):
    other = await factory.user()
    async with svc.db.write() as db:
        (await db.get(type(other), other.id)).phone = phone


async def test_phone_api__not_json_is_refused(client, learner):
    response = await client.post(
        "/api/profile/phone/code",
        data="phone=1",
        headers={"X-CSRF-Token": await csrf_of(client), "Content-Type": "text/plain"},
    )
    assert response.status_code == 400
    assert (await response.get_json())["message"] == "请求格式不正确"


async def test_phone_api__without_csrf_header_is_refused(client, learner):
    response = await client.post("/api/profile/phone/code", json={"phone": PHONE})
    assert response.status_code == 400
    assert (await response.get_json())["code"] == "csrf"
