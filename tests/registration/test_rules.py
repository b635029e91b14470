"""The rule sets as shipped: each preset's values, each with its source, the dates they
give, and a migrated database carrying exactly them."""

import datetime as dt

import pytest
from sqlalchemy import select

from app.registration import rules
from app.registration.models import RuleSet
from tests.factories import CSRF, login


def _preset(code: str) -> RuleSet:
    preset = rules.PRESETS[code]
    return RuleSet(code=code, version=1, name=preset.name, **preset.values)


@pytest.mark.parametrize("code", sorted(rules.PRESETS))
def test_presets__every_value_names_its_source(code):
    preset = rules.PRESETS[code]
    assert set(preset.values) == set(rules.FIELDS) == set(preset.sources)
    assert all(len(source) > 10 for source in preset.sources.values())
    for field, value in preset.values.items():
        _, low, high = rules.FIELDS[field]
        assert low <= value <= high, field


@pytest.mark.parametrize("code", sorted(rules.PRESETS))
async def test_presets__a_migrated_database_carries_them(svc, code):
    preset = rules.PRESETS[code]
    async with svc.db.read() as db:
        stored = await db.scalar(select(RuleSet).where(RuleSet.code == code, RuleSet.version == 1))
    assert stored is not None
    assert {field: getattr(stored, field) for field in rules.FIELDS} == preset.values
    assert (stored.name, stored.level, stored.note) == (preset.name, preset.level, preset.note)
    assert stored.is_current == (code == "seed")


def test_seed_preset__the_guide_s_three_years_and_last_three_months():
    seed = _preset("seed")
    assert rules.initial_deadline(seed, dt.date(2024, 5, 10)) == dt.date(2027, 5, 10)
    assert rules.validity(seed, dt.date(2026, 3, 4)) == (dt.date(2026, 3, 4), dt.date(2029, 3, 3))
    window = rules.renewal_window(seed, dt.date(2029, 3, 3))
    assert (window.opens, window.closes) == (dt.date(2028, 12, 4), dt.date(2029, 3, 3))
    assert not window.contains(dt.date(2028, 12, 3)) and window.contains(dt.date(2029, 3, 3))
    assert (seed.ce_hours_per_cycle, seed.late_initial_ce_hours) == (48, 48)
    assert (seed.age_limit, seed.fraud_bar_years) == (70, 3)


def test_2019_preset__five_years_renewal_three_months_before_expiry():
    preset = _preset("2019-intermediate")
    assert rules.initial_deadline(preset, dt.date(2024, 5, 10)) == dt.date(2029, 5, 10)
    assert rules.validity(preset, dt.date(2026, 1, 31)) == (
        dt.date(2026, 1, 31),
        dt.date(2031, 1, 30),
    )
    window = rules.renewal_window(preset, dt.date(2031, 1, 30))
    assert window.opens == dt.date(2030, 10, 31)
    assert (preset.ce_hours_per_cycle, preset.late_initial_ce_hours) == (48, 48)
    assert (preset.age_limit, preset.fraud_bar_years) == (70, 5)
    assert rules.add_years(dt.date(2026, 3, 4), preset.fraud_bar_years) == dt.date(2031, 3, 4)


def test_late_reason__says_the_date_the_window_and_its_end():
    reason = rules.late_reason(_preset("2019-intermediate"), dt.date(2019, 6, 1))
    assert reason == (
        "取得资格日期2019年6月1日，已超过初始注册期限5年（截至2024年6月1日），按逾期初始注册办理"
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("abc", "须填写整数"),
        ("-1", "须填写整数"),
        ("501", "须在 0 至 500 之间"),
        ("9" * 40, "须在"),
    ],
)
def test_rules__the_late_initial_setting_is_checked_like_the_others(value, words):
    form = {field: str(v) for field, v in rules.PRESETS["seed"].values.items()}
    form["late_initial_ce_hours"] = value
    with pytest.raises(rules.AppError) as info:
        rules.check_fields(form)
    assert "逾期初始注册须提供的继续教育学时" in info.value.message and words in info.value.message


async def test_admin_rules_page__names_each_preset_value_s_source(client, svc, factory):
    admin = await factory.user(roles=("admin",))
    await login(client, svc, admin.id_number, "Str0ng-Pass!")
    page = await (await client.get("/admin/registration/rules")).get_data(as_text=True)
    for preset in rules.PRESETS.values():
        for source in preset.sources.values():
            assert f"出处：{source}" in page
    assert 'name="late_initial_ce_hours" value="48"' in page
    token = CSRF.search(page).group(1)
    async with svc.db.read() as db:
        seed = await db.scalar(select(RuleSet).where(RuleSet.code == "seed"))
    form = {field: str(v) for field, v in rules.PRESETS["seed"].values.items()}
    response = await client.post(
        f"/admin/registration/rules/{seed.id}/version",
        form={"csrf_token": token, **form, "late_initial_ce_hours": "0", "name": "改"},
    )
    assert response.status_code == 302
    async with svc.db.read() as db:
        version = await db.scalar(
            select(RuleSet).where(RuleSet.code == "seed", RuleSet.version == 2)
        )
    assert version.late_initial_ce_hours == 0 and not version.is_current
    page = await (await client.get("/admin/registration/rules")).get_data(as_text=True)
    # An edited value no longer carries the preset's source.
    assert page.count(f"出处：{rules.PRESETS['seed'].sources['late_initial_ce_hours']}") == 1
