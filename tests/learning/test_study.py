"""Heartbeats: the server credits only what its own clock allows (every fraud case)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.errors import AppError
from app.learning import service, study
from app.learning.models import CourseKind, VideoProgress
from tests.learning.conftest import Player, flush

RULES = study.StudyRules()  # 15 s beats, 2 s early, 2 s tolerance


@pytest.fixture
async def setup(svc, learning, clock):
    cat = await learning.batch(
        courses=[
            ("公共课", CourseKind.PUBLIC, True, [60, 30], None),
            ("专业课", CourseKind.PROFESSIONAL, False, [120], None),
        ]
    )
    user = await learning.learner(cat.batch.id)
    return cat, user


def player(svc, clock, user, cat, course=0, video=0) -> Player:
    return Player(svc, clock, user, cat.videos[cat.courses[course].id][video].id)


async def watched_ms(svc, user_id, video_id) -> int:
    await flush(svc)
    async with svc.db.read() as db:
        row = await db.scalar(
            select(VideoProgress).where(
                VideoProgress.user_id == user_id, VideoProgress.video_id == video_id
            )
        )
    return row.watched_ms if row else 0


async def test_beat__normal_play_is_credited_by_server_time(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()

    first = await p.play(15)
    second = await p.play(15)

    assert first["credited_s"] == 15 and second["credited_s"] == 15
    assert second["percent"] == 50 and second["watched_s"] == 30
    assert await watched_ms(svc, user.id, p.video_id) == 30000


async def test_beat__late_beat_is_capped_at_interval_plus_tolerance(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()

    reply = await p.play(40)

    assert reply["credited_s"] == 17


async def test_beat__slow_network_credits_only_server_time(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()
    clock.advance(seconds=14)

    reply = await p.beat(15.5)  # the position ran 1.5 s ahead of the server clock

    assert reply["credited_s"] == 14


async def test_beat__fast_forward_credits_nothing(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()
    clock.advance(seconds=15)

    reply = await p.beat(60)

    assert reply["credited_s"] == 0 and reply["note"] == "jump"
    assert await watched_ms(svc, user.id, p.video_id) == 0


async def test_beat__seek_past_the_furthest_point_leaves_the_gap_unwatched(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()
    await p.play(15)
    clock.advance(seconds=1)

    seek = await p.beat(16, reason="seek", to=80)
    after = await p.play(15)

    assert seek["credited_s"] == 1
    assert after["credited_s"] == 15
    await flush(svc)
    async with svc.db.read() as db:
        row = await db.scalar(select(VideoProgress).where(VideoProgress.user_id == user.id))
    assert row.segments == "[[0,16000],[80000,95000]]"


async def test_beat__double_speed_credits_nothing(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()
    clock.advance(seconds=15)

    reported = await p.beat(30, rate=2)
    clock.advance(seconds=15)
    unreported = await p.beat(60)

    assert reported["credited_s"] == 0 and reported["note"] == "rate"
    assert unreported["credited_s"] == 0 and unreported["note"] == "jump"


async def test_beat__slightly_fast_rate_never_completes_the_video(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)  # 60 s video played at 1.1x
    await p.start()
    for _ in range(3):
        clock.advance(seconds=15)
        await p.beat(p.position + 16.5)
    clock.advance(seconds=10)
    reply = await p.beat(60, reason="ended")

    assert reply["watched_s"] <= 55 and not reply["complete"]


async def test_beat__second_tab_ends_the_first_session(svc, clock, setup):
    cat, user = setup
    first = player(svc, clock, user, cat)
    second = player(svc, clock, user, cat, course=1)
    await first.start()
    started = await second.start()
    clock.advance(seconds=15)

    with pytest.raises(AppError) as refused:
        await first.beat(15)
    reply = await second.beat(15)

    assert started.replaced and started.replaced[0] == first.token
    assert refused.value.code == "play_replaced"
    assert "其他页面或设备" in refused.value.message
    assert reply["credited_s"] == 15
    assert await watched_ms(svc, user.id, first.video_id) == 0


async def test_beat__replayed_seq_is_refused(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()
    await p.play(15)
    clock.advance(seconds=15)

    with pytest.raises(AppError) as same:
        await p.beat(30, seq=1)
    with pytest.raises(AppError) as lower:
        await p.beat(30, seq=0)

    assert same.value.code == "stale_beat"
    assert lower.value.code == "bad_request"
    assert await watched_ms(svc, user.id, p.video_id) == 15000


async def test_beat__burst_faster_than_the_interval_credits_nothing(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()
    replies = []
    for i in range(1, 6):
        clock.advance(seconds=1)
        replies.append(await p.beat(float(i)))

    assert all(r["credited_s"] == 0 and r["note"] == "too_early" for r in replies)
    assert await watched_ms(svc, user.id, p.video_id) == 0
    # The next on-time beat measures from the last accepted one, so nothing is lost.
    clock.advance(seconds=10)
    assert (await p.beat(15))["credited_s"] == 15


async def test_beat__position_at_the_end_straight_away_credits_nothing(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()
    clock.advance(seconds=1)

    ended = await p.beat(60, reason="ended")
    clock.advance(seconds=15)
    tick = await p.beat(60)

    assert ended["credited_s"] == 0 and tick["credited_s"] == 0
    assert await watched_ms(svc, user.id, p.video_id) == 0


async def test_beat__paused_player_earns_nothing(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()
    clock.advance(seconds=5)
    paused = await p.beat(5, reason="pause")
    clock.advance(seconds=300)

    still = await p.beat(5)  # a forged beat while paused: the position did not move
    resumed = await p.play(15)

    assert paused["credited_s"] == 5 and still["credited_s"] == 0
    assert resumed["credited_s"] == 15


async def test_beat__rewinding_and_rewatching_adds_nothing(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()
    await p.play(15)
    await p.play(15)
    clock.advance(seconds=1)
    back = await p.beat(0, reason="seek", to=0)  # position 0 < 30: a rewind, no credit

    again = await p.play(15)

    assert back["credited_s"] == 0 and back["note"] == "backward"
    assert again["credited_s"] == 0 and "不重复累计" in again["message"]
    assert await watched_ms(svc, user.id, p.video_id) == 30000


async def test_beat__watching_to_the_end_completes_video_and_course(svc, clock, setup):
    cat, user = setup
    first = player(svc, clock, user, cat)
    await first.start()
    for _ in range(4):
        reply = await first.play(15)
    second = player(svc, clock, user, cat, video=1)
    await second.start()
    await second.play(15)
    clock.advance(seconds=15)
    last = await second.beat(30, reason="ended")

    assert reply["complete"] and not reply["course_complete"]
    assert last["complete"] and last["course_complete"] and last["percent"] == 100
    await flush(svc)
    async with svc.db.read() as db:
        result = await service.batch_progress(session=db, user_id=user.id, batch_id=cat.batch.id)
    assert (result.credited_minutes, result.public_minutes) == (2, 2)


async def test_start__resumes_from_the_last_credited_position(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()
    await p.play(15)
    await p.play(15)

    again = await p.start()
    clock.advance(seconds=15)
    reply = await p.beat(45)

    assert again.resume_s == 30
    assert reply["credited_s"] == 15


async def test_beat__unknown_or_foreign_token_is_refused(svc, clock, setup, learning):
    cat, user = setup
    other = await learning.learner(cat.batch.id)
    p = player(svc, clock, user, cat)
    await p.start()
    thief = Player(svc, clock, other, p.video_id)
    thief.token = p.token
    clock.advance(seconds=15)

    with pytest.raises(AppError) as foreign:
        await thief.beat(15)
    p.token = "x" * 24
    with pytest.raises(AppError) as unknown:
        await p.beat(15)

    assert foreign.value.code == "play_expired" and unknown.value.code == "play_expired"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"token": None, "seq": 1, "position": 1},
        {"position": 1},
        {"seq": "1", "position": 1},
        {"seq": True, "position": 1},
        {"seq": 1, "position": "10"},
        {"seq": 1, "position": float("nan")},
        {"seq": 1, "position": -1},
        {"seq": 1, "position": 999},
        {"seq": 1, "position": 1, "reason": "warp"},
        {"seq": 1, "position": 1, "reason": "seek"},
        {"seq": 1, "position": 1, "rate": "fast"},
    ],
)
async def test_beat__bad_input_is_refused_and_changes_nothing(svc, clock, setup, body):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()
    clock.advance(seconds=15)
    if isinstance(body, dict):
        body = {"token": p.token, **body}  # a "token" key in the case overrides this

    with pytest.raises(AppError) as refused:
        await study.beat(
            redis=svc.redis,
            rules=RULES,
            user_id=user.id,
            body=body,
            now=svc.now(),
        )

    assert refused.value.code in {"bad_request", "play_expired"}
    assert refused.value.message
    assert (await p.beat(15))["credited_s"] == 15  # the session is untouched


async def test_start__refuses_unknown_video_other_batch_and_withdrawn_course(
    svc, clock, setup, learning
):
    cat, user = setup
    other = await learning.batch(
        name="别的批次",
        courses=[("限期课", CourseKind.PUBLIC, False, [60], svc.now() + dt.timedelta(hours=1))],
    )
    foreign = player(svc, clock, user, other)
    await learning.factory.enrol(user.id, other.batch.id)

    codes = []
    for video_id in (999999, "abc", None):
        with pytest.raises(AppError) as refused:
            await Player(svc, clock, user, video_id).start()
        codes.append(refused.value.code)
    clock.advance(hours=1)
    with pytest.raises(AppError) as withdrawn:
        await foreign.start()
    stranger = await learning.factory.user()
    with pytest.raises(AppError) as not_enrolled:
        await Player(svc, clock, stranger, foreign.video_id).start()

    assert codes == ["not_found", "bad_request", "bad_request"]
    assert withdrawn.value.code == "course_withdrawn"
    assert not_enrolled.value.code == "not_enrolled"


async def test_beat__course_deadline_passing_mid_play_ends_the_session(svc, clock, learning):
    cat = await learning.batch(
        courses=[("限期课", CourseKind.PUBLIC, False, [60], svc.now() + dt.timedelta(seconds=20))]
    )
    user = await learning.learner(cat.batch.id)
    p = player(svc, clock, user, cat)
    await p.start()
    await p.play(15)
    clock.advance(seconds=15)

    with pytest.raises(AppError) as closed:
        await p.beat(30)

    assert closed.value.code == "study_closed"
    assert await watched_ms(svc, user.id, p.video_id) == 15000


async def test_stop__ends_the_session(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat)
    await p.start()

    await study.stop(redis=svc.redis, user_id=user.id, token=p.token)
    clock.advance(seconds=15)

    with pytest.raises(AppError) as refused:
        await p.beat(15)
    assert refused.value.code == "play_expired"


@pytest.mark.parametrize(
    ("reason", "elapsed", "advance", "expected", "note"),
    [
        ("tick", 15_000, 15_000, 15_000, None),
        ("tick", 12_999, 13_000, 0, "too_early"),
        ("tick", 13_000, 12_000, 12_000, None),
        ("tick", 15_000, 17_000, 15_000, None),
        ("tick", 15_000, 17_001, 0, "jump"),
        ("pause", 3_000, 3_000, 3_000, None),
        ("ended", 100, 60_000, 0, "jump"),
        ("tick", 60_000, 60_000, 17_000, None),
    ],
)
def test_judge__credit_is_the_minimum_of_time_advance_and_cap(
    reason, elapsed, advance, expected, note
):
    state = study.PlayState(
        user_id=1, video_id=1, duration_ms=600_000, seq=0, at_ms=0, position_ms=0, until_ms=10**15
    )
    verdict = study.judge(
        state,
        rules=RULES,
        now_ms=elapsed,
        reason=reason,
        position_ms=advance,
        to_ms=None,
        rate=1.0,
    )
    assert (verdict.credit_ms, verdict.note) == (expected, note)


async def test_beat__a_stale_cached_session_is_read_again(svc, clock, setup):
    cat, user = setup
    p = player(svc, clock, user, cat, course=1)
    await p.start()
    socket_cache: dict = {}

    async def beat(seq, position, cache):
        result = await study.beat(
            redis=svc.redis,
            rules=RULES,
            user_id=user.id,
            body={"token": p.token, "seq": seq, "position": position},
            now=svc.now(),
            cache=cache,
        )
        return result.reply()

    clock.advance(seconds=15)
    first = await beat(1, 15.0, socket_cache)  # through the socket: cached
    clock.advance(seconds=15)
    second = await beat(2, 30.0, None)  # through the HTTP fallback: the copy goes stale
    clock.advance(seconds=15)
    third = await beat(3, 45.0, socket_cache)
    with pytest.raises(AppError) as replay:
        await beat(3, 45.0, socket_cache)

    assert [first["credited_s"], second["credited_s"], third["credited_s"]] == [15, 15, 15]
    assert third["watched_s"] == 45
    assert replay.value.code == "stale_beat"
    assert await watched_ms(svc, user.id, p.video_id) == 45000
