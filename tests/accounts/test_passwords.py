import pytest

from app.accounts import idcard
from app.accounts.passwords import check_new_password
from app.errors import AppError

ID = idcard.parse(idcard.make("12010219900307451"))


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short1!", "password_short"),
        (f"abc{ID.last_six}xyz", "password_id"),
        (f"{ID.last_six.lower()}Abcdef", "password_id"),
        ("Zz19900307!", "password_birth"),
        ("Zz900307!!", "password_birth"),
        ("12345678", "password_common"),
        ("Password1", "password_common"),
        ("aaaaaaaaaa", "password_common"),
        # From the Chinese list (a leak of NetEase mail accounts), not in the English one.
        ("qwe123456", "password_common"),
        ("woaini5201314", "password_common"),
        ("wangyang", "password_common"),
    ],
)
def test_new_password__rules_refuse_weak_choices(password, code):
    with pytest.raises(AppError) as info:
        check_new_password(password, password, ID)
    assert info.value.code == code


def test_new_password__confirmation_must_match():
    with pytest.raises(AppError) as info:
        check_new_password("Good-Pass-2026", "Good-Pass-2025", ID)
    assert info.value.code == "password_mismatch"


def test_new_password__a_good_one_passes():
    check_new_password("Anquan-Xuexi-88", "Anquan-Xuexi-88", ID)


def test_common_list__holds_the_top_10000_the_chinese_list_and_the_local_additions():
    from app.accounts.passwords import common_passwords

    words = common_passwords()
    assert len(words) >= 10_500  # 10,000 + 1,000 lines, overlapping a little
    assert {"123456", "password", "dragon", "woaini1314", "anquan123"} <= words
    assert {"qwe123456", "7758521", "beijing2008", "zhangwei"} <= words


@pytest.mark.parametrize("password", ["Radiohead", "07071984", "trustno1", "Qq123456789"])
def test_new_password__one_from_deep_in_the_common_list_is_refused(password):
    with pytest.raises(AppError) as info:
        check_new_password(password, password, ID)
    assert info.value.code == "password_common"
