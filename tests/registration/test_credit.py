"""Continuing-education credit that adds up: 40 minutes = 1 学时, each certificate credited
as printed on it (down to a tenth), one decimal everywhere, the rows sum to the total and
total + missing = required in every message and form."""

import datetime as dt
import re

import pytest

from app.registration import submission

START = dt.date(2026, 1, 1)
END = dt.date(2028, 12, 31)


async def _education(svc, user, required=48):
    async with svc.db.read() as db:
        return await submission.education(
            session=db,
            user_id=user.id,
            start=START,
            end=END,
            required_hours=required,
            label="本注册周期",
        )


def _tenths(text: str) -> int:
    whole, tenth = text.split(".")
    return int(whole) * 10 + int(tenth)


@pytest.mark.parametrize(
    ("minutes", "rows", "total", "missing", "met"),
    [
        ((), [], "0.0", "48.0", False),
        ((9,), ["0.2"], "0.2", "47.8", False),  # the form once said 还差 47.7
        ((39, 39), ["0.9", "0.9"], "1.8", "46.2", False),  # rows, not minutes, are added
        ((1919,), ["47.9"], "47.9", "0.1", False),
        ((960, 960), ["24.0", "24.0"], "48.0", "0.0", True),
        ((1940,), ["48.5"], "48.5", "0.0", True),
    ],
)
async def test_education__rows_add_up_and_total_plus_missing_is_required(
    svc, reg, world, minutes, rows, total, missing, met
):
    _, _, _, user = world
    for value in minutes:
        await reg.earned(user, value)
    ce = await _education(svc, user)
    assert [e["hours"] for e in ce["entries"]] == rows
    assert (ce["total_hours"], ce["required_hours"], ce["missing_hours"]) == (
        total,
        "48.0",
        missing,
    )
    assert ce["met"] is met
    assert sum(_tenths(r) for r in rows) == _tenths(total)
    if not met:
        assert _tenths(total) + _tenths(missing) == _tenths("48.0")


async def test_ce_summary__one_wording_that_adds_up(svc, reg, world):
    _, _, _, user = world
    await reg.earned(user, 9)
    summary = submission.ce_summary(await _education(svc, user))
    assert summary == "合计0.2学时，规定48.0学时，还差47.8学时"
    total, required, missing = (float(n) for n in re.findall(r"\d+\.\d", summary))
    assert round(total + missing, 1) == required


async def test_education__counts_only_issued_certificates_inside_the_period(svc, reg, world):
    _, _, _, user = world
    inside = dt.datetime(2027, 6, 1, 2, tzinfo=dt.UTC)
    await reg.earned(user, 640, issued_at=inside)
    await reg.earned(user, 640, issued_at=dt.datetime(2025, 12, 31, 15, 59, tzinfo=dt.UTC))
    await reg.earned(user, 640, issued_at=dt.datetime(2028, 12, 31, 16, 0, tzinfo=dt.UTC))
    ce = await _education(svc, user)
    assert [e["issued_on"] for e in ce["entries"]] == ["2027-06-01"]
    assert ce["total_hours"] == "16.0"
