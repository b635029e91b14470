"""Certificate numbers, masked names and 学时: the small rules printed and verified."""

import re

from app.certificates import numbers, render
from app.lib import masking


def test_make_number__year_random_and_check_character():
    made = {numbers.make_number(2026) for _ in range(500)}
    assert len(made) == 500
    for number in made:
        assert re.fullmatch(r"2026[0-9A-HJKMNP-TV-Z]{11}", number)
        assert numbers.normalise_number(number) == number


def test_normalise_number__any_single_typo_is_rejected():
    number = numbers.make_number(2026)
    for position in range(len(number)):
        for char in numbers.ALPHABET:
            if char != number[position]:
                typo = number[:position] + char + number[position + 1 :]
                assert numbers.normalise_number(typo) is None, typo


def test_normalise_number__case_spaces_dashes_and_lookalikes_are_forgiven():
    number = "2026" + "0" * 10
    number += numbers.check_char(number)
    typed = f" {number[:4]}-{number[4:9].replace('0', 'o')} {number[9:].lower()} "
    assert numbers.normalise_number(typed) == number
    assert numbers.normalise_number("") is None
    assert numbers.normalise_number("not a number") is None
    assert numbers.normalise_number(number + "0") is None


def test_mask_name__keeps_first_and_last_character_only():
    assert masking.mask_name("张安全") == "张*全"
    assert masking.mask_name("张三") == "张*"
    assert masking.mask_name("欧阳小明") == "欧**明"
    assert masking.mask_name("王") == "*"


def test_hours_text__forty_minutes_make_one_study_hour():
    assert render.hours_text(640) == "16"
    assert render.hours_text(1280) == "32"
    assert render.hours_text(1920) == "48"
    assert render.hours_text(1940) == "48.5"
    assert render.hours_text(1939) == "48.4"
