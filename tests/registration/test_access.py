"""The entry points of the registration guide (§1(2), §2(1)): the login page's 注册申请登陆
tab with its 温馨提示, 初始注册 leading to 注册资格信息验证; and the captchas of 设置密码 and
忘了密码 limited per address like the login's."""

import re

import pytest

from tests.factories import CSRF, captcha_answer, login

PASSWORD = "Str0ng-Pass!"
CAPTCHA_ID = re.compile(r'id="captcha-id" value="([^"]+)"')
CAPTCHA_PAGES = (
    "/registration/setup-password",
    "/registration/forgot-password",
    "/registration/initial",
)


async def _text(response) -> str:
    return await response.get_data(as_text=True)


async def test_login__the_applicants_tab_has_the_tips_and_the_initial_link(client):
    page = await _text(await client.get("/login?tab=registration"))
    assert 'id="tab-registration" class="current" aria-current="page"' in page
    assert "温馨提示" in page and 'href="/registration/initial" id="link-initial"' in page
    assert 'name="tab" value="registration"' in page
    plain = await _text(await client.get("/login?tab=<script>"))
    assert 'id="tab-learning" class="current"' in plain and "温馨提示" not in plain


@pytest.mark.parametrize(
    ("roles", "tab", "lands"),
    [
        (("learner", "registrant"), "registration", "/registration"),
        (("learner",), "registration", "/registration"),
        (("learner", "registrant"), "learning", "/profile"),
        (("invigilator",), "registration", "/invigilate"),
    ],
)
async def test_login__from_the_applicants_tab_applicants_land_on_registration(
    client, svc, factory, roles, tab, lands
):
    user = await factory.user(roles=roles)
    response = await login(client, svc, user.id_number, PASSWORD, tab=tab)
    assert response.status_code == 302 and response.headers["Location"] == lands


async def test_login__a_refusal_keeps_the_applicants_tab(client, svc, factory):
    user = await factory.user(roles=("registrant",))
    response = await login(client, svc, user.id_number, "wrong-password", tab="registration")
    page = await _text(response)
    assert response.status_code in (400, 401) and "温馨提示" in page
    assert 'name="tab" value="registration"' in page


async def test_initial__anonymous_gets_the_qualification_check_signed_in_goes_to_qualify(
    client, svc, factory
):
    page = await _text(await client.get("/registration/initial"))
    assert '<h1 id="verify-title">注册资格信息验证</h1>' in page
    assert 'name="initial" value="1"' in page
    user = await factory.user(roles=("learner",))
    await login(client, svc, user.id_number, PASSWORD)
    response = await client.get("/registration/initial")
    assert response.status_code == 302
    assert response.headers["Location"] == "/registration/qualify"


async def test_initial__a_refused_check_stays_a_qualification_check(client, svc):
    page = await _text(await client.get("/registration/initial"))
    captcha_id = CAPTCHA_ID.search(page).group(1)
    response = await client.post(
        "/registration/setup-password",
        form={
            "csrf_token": CSRF.search(page).group(1),
            "captcha_id": captcha_id,
            "captcha": await captcha_answer(svc.redis, captcha_id),
            "initial": "1",
            "id_type": "id_card",
            "id_number": "11010519491231002X",
            "name": "无此人",
            "certificate_no": "ZA00000000",
        },
    )
    text = await _text(response)
    assert response.status_code >= 400 and 'id="verify-title">注册资格信息验证' in text
    assert 'id="form-error"' in text


@pytest.mark.parametrize("path", CAPTCHA_PAGES)
async def test_captcha__the_account_pages_are_limited_per_address(client, svc, clock, path):
    limit = svc.config.captcha_per_ip_minute
    clock.set(clock.now().replace(second=0))
    for _ in range(limit):
        assert (await client.get(path)).status_code == 200
    stored = [k async for k in svc.redis.scan_iter("captcha:*")]
    response = await client.get(path)
    assert response.status_code == 429
    assert "获取验证码过于频繁，请稍后再试" in await _text(response)
    assert (await client.get("/captcha")).status_code == 429  # one budget per address
    assert len([k async for k in svc.redis.scan_iter("captcha:*")]) == len(stored) == limit
    clock.advance(minutes=1)
    assert (await client.get(path)).status_code == 200
