"""Absurd input to the registration pages: a clear Chinese refusal, nothing stored, never a
500 (on PostgreSQL too: an id beyond INTEGER must not reach the database)."""

import pytest

from app.errors import AppError
from app.registration import rules
from tests.factories import CSRF, login

PASSWORD = "Str0ng-Pass!"


async def _post(client, path, form):
    page = await (await client.get("/registration")).get_data(as_text=True)
    return await client.post(path, form={"csrf_token": CSRF.search(page).group(1), **form})


@pytest.mark.parametrize(
    "authority_id",
    ["99999999999999999999", "2147483648", "-1", "0", "1e3", "true", "１", "x" * 5000, ""],
)
async def test_channel__an_absurd_authority_is_refused(client, svc, reg, world, authority_id):
    authority, _, _, user = world
    await reg.start(user)
    await login(client, svc, user.id_number, PASSWORD)
    response = await _post(
        client,
        "/registration/apply/channel",
        {"channel": "province", "authority_id": authority_id, "category": "化工安全"},
    )
    assert response.status_code == 400
    assert "请选择注册机构" in await response.get_data(as_text=True)
    assert (await reg.application(user)).authority_id is None


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/registration/start/" + "x" * 3000, {}),
        ("/registration/apply/experience/" + "9" * 400 + "/delete", {}),
        ("/registration/history/99999999999999999999", None),
        ("/review/99999999999999999999", None),
    ],
)
async def test_paths__absurd_ids_are_404_in_chinese(client, svc, reg, world, path, form):
    _, _, _, user = world
    await reg.start(user)
    await login(client, svc, user.id_number, PASSWORD)
    if form is None:
        response = await client.get(path)
    else:
        response = await _post(client, path, form)
    assert response.status_code in (403, 404)
    assert response.status_code != 500


@pytest.mark.parametrize("value", ["²", "٣", "４８", "1.5", "1e3", "9" * 5000, " ", "true"])
def test_rules__absurd_numbers_are_refused_in_chinese(value):
    form = {field: str(v) for field, v in rules.PRESETS["seed"].values.items()}
    form["validity_months"] = value
    with pytest.raises(AppError) as info:
        rules.check_fields(form)
    assert "“注册有效期（月）”须" in info.value.message
    assert len(info.value.message) < 80
