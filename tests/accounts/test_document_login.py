"""Logging in with a 证件类型 other than the default 居民身份证."""

from app.accounts import documents
from app.accounts.models import index_of
from tests.factories import login, login_form

PASSWORD = "Str0ng-Pass!"


async def test_login__form_offers_document_types_with_id_card_selected(client):
    page = await (await client.get("/login")).get_data(as_text=True)
    assert 'name="id_type"' in page
    assert '<option value="id_card" selected>居民身份证</option>' in page
    for label in ("护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证"):
        assert label in page


async def test_login__passport_holder_logs_in_with_type_and_number(client, svc, factory):
    user = await factory.user(id_type="passport", id_number="E12345678", gender="女")
    response = await login(client, svc, "e12345678", PASSWORD, id_type="passport")
    assert response.status_code == 302
    assert user.id_type == "passport"


async def test_login__same_number_under_another_type_is_not_the_account(client, svc, factory):
    await factory.user(id_type="taiwan_permit", id_number="01234567", gender="男")
    # 01234567 is also the shape of a foreign passport number: another username.
    response = await login(client, svc, "01234567", PASSWORD, id_type="passport")
    assert response.status_code == 401
    assert "护照号码或密码错误" in await response.get_data(as_text=True)
    response = await login(client, svc, "01234567", PASSWORD, id_type="taiwan_permit")
    assert response.status_code == 302


async def test_login__wrong_password_for_a_permit_says_the_same_as_unknown(client, svc, factory):
    await factory.user(id_type="hk_macao_permit", id_number="H12345678", gender="男")
    wrong = await login(client, svc, "H12345678", "Wrong-Pass-1", id_type="hk_macao_permit")
    unknown = await login(client, svc, "H87654321", "Wrong-Pass-1", id_type="hk_macao_permit")
    assert wrong.status_code == unknown.status_code == 401
    for response in (wrong, unknown):
        assert "通行证号码或密码错误" in await response.get_data(as_text=True)


async def test_login__malformed_permit_number_says_what_to_fix_and_keeps_the_type(client, svc):
    response = await login(client, svc, "12345678", "whatever", id_type="hk_macao_permit")
    page = await response.get_data(as_text=True)
    assert response.status_code == 400
    assert "H（香港）或 M（澳门）" in page
    assert '<option value="hk_macao_permit" selected>' in page


async def test_login__unknown_type_is_refused(client, svc):
    form = await login_form(client, svc)
    form.update(username="E12345678", password="x", id_type="licence")
    response = await client.post("/login", form=form)
    assert response.status_code == 400
    assert "请选择正确的证件类型" in await response.get_data(as_text=True)


async def test_login__permit_failures_are_counted_apart_from_id_cards(client, svc, factory):
    await login(client, svc, "H12345678", "Wrong-Pass-1", id_type="hk_macao_permit")
    # Under the number's blind index, never the number itself.
    assert await svc.redis.exists(f"loginfail:acct:hk_macao_permit:{index_of('H12345678')}")
    assert not await svc.redis.keys("*H12345678*")


async def test_change_password__passport_holder_rules_use_the_passport_number(client, svc, factory):
    await factory.user(id_type="passport", id_number="E12345678", gender="女")
    await login(client, svc, "E12345678", PASSWORD, id_type="passport")
    page = await (await client.get("/password")).get_data(as_text=True)
    from tests.factories import CSRF

    response = await client.post(
        "/password",
        form={
            "csrf_token": CSRF.search(page).group(1),
            "old_password": PASSWORD,
            "new_password": "Abc-345678-x",
            "confirm_password": "Abc-345678-x",
        },
    )
    assert "新密码不能包含护照号码后六位" in await response.get_data(as_text=True)
    assert documents.LABELS["passport"] == "护照"
