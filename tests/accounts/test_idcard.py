import datetime as dt

import pytest

from app.accounts import idcard
from app.errors import AppError


def test_parse__valid_number_gives_birth_date_and_gender():
    number = idcard.make("12010219900307451")
    parsed = idcard.parse(number)
    assert parsed.birth_date == dt.date(1990, 3, 7)
    assert parsed.gender == "男"  # 17th digit 1 is odd
    assert parsed.last_six == number[-6:]


def test_parse__lowercase_x_is_stored_as_uppercase():
    first17 = next(
        f"11010119800101{n:03d}"
        for n in range(1000)
        if idcard.check_digit(f"11010119800101{n:03d}") == "X"
    )
    parsed = idcard.parse(f" {first17}x ")
    assert parsed.value == first17 + "X"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "id_required"),
        ("12010219900307", "id_malformed"),
        ("1201021990030745A2", "id_malformed"),
        ("99010219900307451X", "id_region"),
        (idcard.make("12010219901307451"), "id_birth"),  # month 13
        (idcard.make("12010230000307451"), "id_birth"),  # born in the future
    ],
)
def test_parse__malformed_numbers_are_refused_with_a_reason(raw, code):
    with pytest.raises(AppError) as info:
        idcard.parse(raw, today=dt.date(2026, 3, 2))
    assert info.value.code == code
    assert info.value.message


def test_parse__bad_checksum_is_refused():
    good = idcard.make("12010219900307451")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(AppError) as info:
        idcard.parse(bad)
    assert info.value.code == "id_checksum"
    assert "校验位" in info.value.message


def test_mask__keeps_region_and_last_four():
    assert idcard.mask("12010219900307123X") == "120102********123X"
