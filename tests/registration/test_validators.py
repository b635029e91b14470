"""Pure rules: USCC (GB 32100), registration numbers, form sections, rule-set dates."""

import datetime as dt

import pytest

from app.errors import AppError
from app.lib import uscc
from app.registration import numbers, rules, sections

TODAY = dt.date(2026, 3, 2)


@pytest.mark.parametrize("code", ["91110000600037341L", "91340600MA2PBM9HXD", "91340600ma2pbm9hxd"])
def test_uscc__published_vectors_are_valid(code):
    assert uscc.parse(code) == code.upper()


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("91110000600037341N", "校验位不正确"),
        ("9111000060003734", "应为18位"),
        ("91110000600037341I", "不允许的字符"),
        ("9111A000600037341L", "行政区划代码"),
        ("", "请填写统一社会信用代码"),
    ],
)
def test_uscc__malformed_codes_say_what_to_fix(code, words):
    with pytest.raises(uscc.InvalidCode) as info:
        uscc.parse(code)
    assert words in str(info.value)


def test_registration_number__check_digit_catches_a_typo():
    number = numbers.make_number(2026)
    assert numbers.normalise(number) == number
    assert numbers.normalise(number[:5] + str((int(number[5]) + 1) % 10) + number[6:]) is None
    assert numbers.normalise("abc") is None


def test_rules__month_arithmetic_clamps_to_the_month_end():
    assert rules.add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert rules.age_on(dt.date(1956, 3, 3), dt.date(2026, 3, 2)) == 69


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("validity_months", "abc", "须填写整数"),
        ("renewal_window_months", "40", "须在 1 至 24 之间"),
        ("renewal_window_months", "12", None),
    ],
)
def test_rules__admin_values_are_checked(field, value, words):
    form = {f: "36" for f in rules.FIELDS} | {"renewal_window_months": "3", "ce_hours_per_cycle": "48",
                                               "age_limit": "70", "fraud_bar_years": "3"}  # fmt: skip
    form[field] = value
    if words is None:
        assert rules.check_fields(form)[field] == int(value)
        return
    with pytest.raises(AppError) as info:
        rules.check_fields(form)
    assert words in info.value.message


def test_experience__periods_are_validated():
    good = {
        "start": "2012-07",
        "end": "2016-06",
        "unit": "甲",
        "position": "安全员",
        "duty": "检查",
    }
    assert sections.check_experience(good, today=TODAY)["end"] == "2016-06"
    cases = [
        ({"start": "2016-07", "end": "2012-06"}, "不能早于"),
        ({"start": "2027-01", "end": ""}, "不能晚于本月"),
        ({"start": "2020-01", "end": "2026-05"}, "不能晚于本月"),
        ({"start": "2020-13", "end": ""}, "须为年月"),
    ]
    for change, words in cases:
        with pytest.raises(AppError) as info:
            sections.check_experience({**good, **change}, today=TODAY)
        assert words in info.value.message


def test_experience__overlaps_are_refused_but_a_handover_month_is_not():
    first = {"start": "2012-07", "end": "2016-06", "unit": "甲"}
    sections.check_overlap({"start": "2016-06", "end": "", "unit": "乙"}, [first], today=TODAY)
    with pytest.raises(AppError) as info:
        sections.check_overlap(
            {"start": "2015-01", "end": "2018-01", "unit": "乙"}, [first], today=TODAY
        )
    assert "时间重叠" in info.value.message and "甲" in info.value.message


def test_employer__malformed_uscc_is_refused():
    form = {"name": "某公司", "uscc": "91110000600037341N", "attribute": "150", "address": "某地",
            "contact": "李", "phone": "022-12345678"}  # fmt: skip
    with pytest.raises(AppError) as info:
        sections.check_employer(form)
    assert info.value.code == "uscc_invalid"


def test_personal__email_and_mobile_formats():
    form = {"gender": "男", "nation": "汉族", "education": "本科", "major": "安全", "school": "某校",
            "graduated_on": "2012-07", "mobile": "1381234567", "address": "某地", "postcode": "300041"}  # fmt: skip
    with pytest.raises(AppError) as info:
        sections.check_personal(form, birth_from_id=dt.date(1990, 1, 1), today=TODAY)
    assert "11位手机号" in info.value.message
    with pytest.raises(AppError) as info:
        sections.check_personal(
            form | {"mobile": "13812345678", "email": "x@"}, birth_from_id=None, today=TODAY
        )
    assert "出生日期" in info.value.message
