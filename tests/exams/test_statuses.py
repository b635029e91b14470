"""The attempt vocabulary (app/exams/statuses.py): every word has one label, every page
and export uses it, user agents read as people read them."""

import pytest
from sqlalchemy import select

from app.exams import attempts, records, statuses
from app.exams.models import AttemptEvent
from app.exams.statuses import ENDED_LABELS, EVENT_LABELS, EndedBy, EventKind
from app.lib import devices

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


def test_vocabulary__every_kind_and_ending_has_one_chinese_label():
    assert set(EVENT_LABELS) == set(EventKind)
    assert set(ENDED_LABELS) == set(EndedBy)
    # A closing writes its ending as a history entry: each ending is a kind too.
    assert {str(e) for e in EndedBy} <= {str(k) for k in EventKind}
    for label in [*EVENT_LABELS.values(), *ENDED_LABELS.values()]:
        assert label and not label.isascii()
    assert statuses.event_label("something_new") == "其他记录"


@pytest.mark.parametrize(
    ("agent", "shown"),
    [
        (CHROME_WINDOWS, "Chrome 156 · Windows 10"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            "Safari 17 · Mac OS X 10.15",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
            "Edge 120 · Windows 10",
        ),
        ("curl/8.5.0", "curl 8"),
        ("not a browser", "not a browser"),
    ],
)
def test_user_agent__shown_as_people_read_it(agent, shown):
    assert devices.describe(agent) == shown


def test_event_detail__a_join_shows_address_and_readable_agent_only_for_device_kinds():
    raw = statuses.device_detail("10.1.2.3", CHROME_WINDOWS)
    assert statuses.event_detail(EventKind.JOIN, raw) == "10.1.2.3 · Chrome 156 · Windows 10"
    assert statuses.event_detail(EventKind.RECONNECT, raw).endswith("Chrome 156 · Windows 10")
    # A detail without an address (older rows) still reads.
    assert statuses.event_detail(EventKind.JOIN, CHROME_WINDOWS) == "Chrome 156 · Windows 10"
    # Other kinds keep their words as written.
    assert statuses.event_detail(EventKind.FOCUS_LOST, "离开 3 秒") == "离开 3 秒"


async def test_record_event__keeps_the_raw_agent_and_refuses_a_kind_outside_the_vocabulary(
    svc, exams
):
    batch = await exams.batch()
    user = await exams.eligible(batch)
    attempt = await exams.start(user, batch)
    raw = statuses.device_detail("10.1.2.3", CHROME_WINDOWS)
    async with svc.db.write() as db:
        await attempts.record_event(
            session=db, attempt_id=attempt.id, kind=EventKind.JOIN, now=svc.now(), detail=raw
        )
    with pytest.raises(ValueError):
        async with svc.db.write() as db:
            await attempts.record_event(
                session=db, attempt_id=attempt.id, kind="made_up", now=svc.now()
            )
    async with svc.db.read() as db:
        stored = await db.scalar(
            select(AttemptEvent.detail).where(AttemptEvent.attempt_id == attempt.id)
        )
        shown = (await records.events_of(session=db, attempt_ids=[attempt.id]))[attempt.id]
    assert stored == raw
    assert [(e.label, e.detail) for e in shown] == [
        ("进入考试", "10.1.2.3 · Chrome 156 · Windows 10")
    ]
