import datetime as dt

import pytest

from app.accounts import documents, idcard
from app.errors import AppError


def test_parse__id_card_is_the_default_and_uses_gb11643():
    number = idcard.make("12010219900307451")
    parsed = documents.parse("", number)
    assert parsed.type == documents.ID_CARD
    assert parsed.birth_date == dt.date(1990, 3, 7) and parsed.gender == "男"


@pytest.mark.parametrize(
    ("id_type", "raw", "value"),
    [
        ("passport", "e12345678", "E12345678"),
        ("passport", "EA1234567", "EA1234567"),
        ("passport", "G12345678", "G12345678"),
        ("passport", "X1234567", "X1234567"),  # a foreign passport (ICAO 9303)
        ("hk_macao_permit", "H12345678", "H12345678"),
        ("hk_macao_permit", "m 1234 5678", "M12345678"),
        ("hk_macao_permit", "H1234567801", "H1234567801"),  # the older booklet
        ("taiwan_permit", "01234567", "01234567"),
        ("护照", "E87654321", "E87654321"),  # the label works as the type too
    ],
)
def test_parse__published_formats_are_accepted(id_type, raw, value):
    parsed = documents.parse(id_type, raw)
    assert parsed.value == value
    assert parsed.birth_date is None and parsed.gender is None


@pytest.mark.parametrize(
    ("id_type", "raw", "words"),
    [
        ("passport", "", "请输入护照号码"),
        ("passport", "E1234567", "E 加8位数字"),  # Chinese passport one digit short
        ("passport", "EI1234567", "E 加8位数字"),  # I is never used
        ("passport", "ABCDEFGH", "5至9位字母和数字"),  # no digit at all
        ("passport", "E123456789", "5至9位"),  # ten characters
        ("hk_macao_permit", "12345678", "H（香港）或 M（澳门）"),
        ("hk_macao_permit", "H1234567", "H（香港）或 M（澳门）"),
        ("taiwan_permit", "1234567", "8位数字"),
        ("taiwan_permit", "T1234567", "8位数字"),
    ],
)
def test_parse__malformed_numbers_say_what_to_fix(id_type, raw, words):
    with pytest.raises(AppError) as info:
        documents.parse(id_type, raw)
    assert words in info.value.message


def test_parse__unknown_type_is_refused():
    with pytest.raises(AppError) as info:
        documents.parse("driving_licence", "123")
    assert info.value.code == "id_type_invalid"


def test_mask__keeps_a_little_of_each_number():
    assert documents.mask("passport", "E12345678") == "E******78"
    assert documents.mask("id_card", idcard.make("12010219900307451")).startswith("120102****")
