"""Attention checks (防挂机): only the server issues and judges them; credit earned while one
is open is held back, released by a right answer and dropped by a wrong or late one."""

from __future__ import annotations

import pytest

from app.errors import AppError
from app.learning import answers, attention, study
from tests.learning.conftest import Player, challenge_code
from tests.learning.test_study import watched_ms

HOURS = 3600
BEAT = 15  # the page's interval (StudyRules default)
CAP = 17  # one beat credits at most interval + tolerance


async def play_until_challenge(p: Player, *, limit_s: int = 25 * 60) -> tuple[dict, float]:
    """Play at 1x in 15 s beats until a reply carries a challenge: (that reply, credited)."""
    credited = 0.0
    for _ in range(limit_s // BEAT):
        reply = await p.play(BEAT)
        credited += reply["credited_s"]
        if "challenge" in reply:
            return reply, credited
    raise AssertionError("no attention check within the limit")


async def test_attention__first_check_comes_between_min_and_max_minutes(svc, clock, long_video):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()

    reply, credited = await play_until_challenge(p)

    challenge = reply["challenge"]
    assert 10 * 60 <= credited <= 20 * 60 + BEAT
    # The beat that crossed the due point is credited as usual and carries the challenge.
    assert reply["credited_s"] == BEAT and "note" not in reply
    assert challenge["image"] == f"/api/study/attention/{challenge['nonce']}.png"
    assert challenge["expires_in_s"] == 60 and challenge["deadline"] == challenge["now"] + 60_000
    assert "60 秒内输入图中的字符" in challenge["message"]
    # The page never gets the code itself.
    assert await challenge_code(svc, challenge["nonce"]) not in str(reply)


async def test_attention__beats_earn_nothing_until_answered_then_the_held_credit_counts(
    svc, clock, long_video
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, credited = await play_until_challenge(p)
    nonce = reply["challenge"]["nonce"]

    held = [await p.play(BEAT), await p.play(BEAT)]
    before_answer = await watched_ms(svc, user.id, video_id)
    clock.advance(seconds=10)
    passed = await p.answer(nonce, (await challenge_code(svc, nonce)).lower())

    assert [h["credited_s"] for h in held] == [0, 0]
    assert [h["held_s"] for h in held] == [15, 30]
    assert held[1]["note"] == "attention_pending" and held[1]["challenge"]["nonce"] == nonce
    assert held[1]["challenge"]["expires_in_s"] == 30
    assert before_answer == credited * 1000  # held credit was never written
    assert passed["ok"] and passed["passed"] and passed["credited_s"] == 30
    assert passed["message"] == attention.PASSED and "challenge" not in passed
    assert await watched_ms(svc, user.id, video_id) == (credited + 30) * 1000
    # Play goes on and is credited again, with the next check 10–20 minutes away.
    after = await p.play(BEAT)
    assert after["credited_s"] == BEAT and "challenge" not in after


async def test_attention__a_missed_deadline_drops_the_held_credit_and_asks_again(
    svc, clock, long_video
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, credited = await play_until_challenge(p)
    first = reply["challenge"]["nonce"]
    first_code = await challenge_code(svc, first)

    for _ in range(4):  # 60 s of play, held
        await p.play(BEAT)
    late = await p.play(BEAT)  # 75 s after the challenge: it was missed
    second = late["challenge"]["nonce"]
    refused = await p.answer(first, first_code)
    passed = await p.answer(second, await challenge_code(svc, second))

    assert refused["code"] == "attention_unknown"
    assert late["credited_s"] == 0 and late["note"] == "attention_missed"
    assert "验证出现以来的学习时长不计入" in late["message"]
    assert second != first and late["held_s"] == BEAT
    # Only the beat after the miss comes back: the 60 s held with the missed check are gone.
    assert passed["credited_s"] == BEAT
    assert await watched_ms(svc, user.id, video_id) == (credited + BEAT) * 1000


async def test_attention__a_wrong_answer_drops_the_held_credit_and_draws_a_new_code(
    svc, clock, long_video
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, credited = await play_until_challenge(p)
    first = reply["challenge"]["nonce"]
    first_code = await challenge_code(svc, first)
    await p.play(BEAT)

    wrong = await p.answer(first, "0000")  # 0 is not in the alphabet: always wrong
    second = wrong["challenge"]["nonce"]
    again = await p.answer(first, first_code)
    passed = await p.answer(second, await challenge_code(svc, second))

    assert wrong["ok"] and wrong["passed"] is False and wrong["credited_s"] == 0
    assert wrong["note"] == "attention_wrong" and wrong["held_s"] == 0 and second != first
    assert again == {"ok": False, "code": "attention_unknown", "message": attention.UNKNOWN}
    assert passed["passed"] and passed["credited_s"] == 0
    assert await watched_ms(svc, user.id, video_id) == credited * 1000


async def test_attention__an_answer_after_the_deadline_is_refused_and_changes_nothing(
    svc, clock, long_video
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, _ = await play_until_challenge(p)
    nonce = reply["challenge"]["nonce"]
    code = await challenge_code(svc, nonce)
    clock.advance(seconds=61)

    late = await p.answer(nonce, code)
    refresh = await p.beat(reason="pause")  # the page's 重新验证: a beat in place

    assert late == {"ok": False, "code": "attention_expired", "message": attention.EXPIRED}
    assert refresh["note"] == "attention_missed" and refresh["challenge"]["nonce"] != nonce


async def test_attention__an_answer_from_another_session_is_refused(svc, clock, long_video):
    user, video_id = await long_video()
    first = Player(svc, clock, user, video_id)
    await first.start()
    reply, _ = await play_until_challenge(first)
    nonce = reply["challenge"]["nonce"]
    code = await challenge_code(svc, nonce)
    second = Player(svc, clock, user, video_id)
    await second.start()

    from_second = await second.answer(nonce, code)
    from_first = await first.answer(nonce, code)

    assert from_second == {"ok": False, "code": "attention_unknown", "message": attention.UNKNOWN}
    assert from_first["code"] == "play_replaced"


async def test_attention__a_new_play_session_cannot_dodge_an_owed_check(svc, clock, long_video):
    user, video_id = await long_video()
    first = Player(svc, clock, user, video_id)
    await first.start()
    reply, _ = await play_until_challenge(first)
    second = Player(svc, clock, user, video_id)
    await second.start()

    owed = await second.play(BEAT)

    assert owed["credited_s"] == 0 and owed["held_s"] == BEAT
    assert owed["challenge"]["nonce"] != reply["challenge"]["nonce"]


async def test_attention__reloading_the_page_does_not_reset_the_counter(svc, clock, long_video):
    user, video_id = await long_video(attention_min_minutes=10, attention_max_minutes=10)
    first = Player(svc, clock, user, video_id)
    await first.start()
    for _ in range(36):  # 9 minutes
        assert "challenge" not in await first.play(BEAT)
    await study.stop(redis=svc.redis, user_id=user.id, token=first.token)  # page unloads
    second = Player(svc, clock, user, video_id)
    await second.start()

    replies = [await second.play(BEAT) for _ in range(4)]

    assert ["challenge" in r for r in replies] == [False, False, False, True]


async def test_attention__off_for_the_batch_never_asks(svc, clock, long_video):
    user, video_id = await long_video(attention_checks=False)
    p = Player(svc, clock, user, video_id)
    await p.start()

    replies = [await p.play(BEAT) for _ in range(45 * 60 // BEAT)]

    assert not any("challenge" in r for r in replies)
    assert sum(r["credited_s"] for r in replies) == 45 * 60


@pytest.mark.parametrize("restart_every_s", [None, 5 * 60], ids=["one-session", "restarting"])
async def test_attention__a_script_that_never_answers_earns_at_most_one_interval_past_it(
    svc, clock, long_video, restart_every_s
):
    """Honest 1x beats, never an answer, for three hours: credit stops within one beat of
    the first challenge, whether the script keeps its session or starts new ones."""
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    total, at_challenge = 0.0, None
    for n in range(1, 3 * HOURS // BEAT + 1):
        if restart_every_s and n % (restart_every_s // BEAT) == 0:
            position = p.position
            await p.start()
            p.position = position
        reply = await p.play(BEAT)
        assert reply["ok"], reply
        total += reply["credited_s"]
        if at_challenge is None and "challenge" in reply:
            at_challenge = total

    assert at_challenge is not None and 10 * 60 <= at_challenge <= 20 * 60 + BEAT
    assert total == at_challenge  # nothing at all after the beat that brought the check
    assert total <= 20 * 60 + CAP
    assert await watched_ms(svc, user.id, video_id) == total * 1000


async def test_attention__a_socket_copy_made_stale_by_an_http_answer_is_read_again(
    svc, clock, long_video
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, _ = await play_until_challenge(p)
    nonce = reply["challenge"]["nonce"]
    socket_cache: dict = {}

    async def socket_beat():
        p.seq += 1
        p.position += BEAT
        clock.advance(seconds=BEAT)
        body = {"token": p.token, "seq": p.seq, "position": p.position, "reason": "tick"}
        result = await study.beat(
            redis=svc.redis, rules=p.rules, user_id=user.id, body=body, now=svc.now(),
            cache=socket_cache,
        )  # fmt: skip
        return result.reply()

    held = await socket_beat()
    await p.answer(nonce, await challenge_code(svc, nonce))  # over HTTP: the cache is stale
    after = await socket_beat()

    assert held["credited_s"] == 0 and held["held_s"] == BEAT
    assert after["credited_s"] == BEAT and "challenge" not in after


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"nonce": "abcdefghij"}, "bad_request"),
        ({"nonce": "abcdefghij", "code": "   "}, "bad_request"),
        ({"nonce": "abcdefghij", "code": 1234}, "bad_request"),
        ({"nonce": 5, "code": "ABCD"}, "attention_unknown"),
        ({"nonce": "abcdefghij", "code": "ABCD"}, "attention_unknown"),
        ({"nonce": "ñ" * 10, "code": "ABCD"}, "attention_unknown"),
    ],
)
async def test_attention__bad_answers_get_chinese_errors_and_change_nothing(
    svc, clock, long_video, body, code
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    await p.play(BEAT)

    with pytest.raises(AppError) as caught:
        await answers.answer(
            redis=svc.redis, rules=p.rules, user_id=user.id, body={"token": p.token, **body},
            now=svc.now(),
        )  # fmt: skip
    after = await p.play(BEAT)

    assert caught.value.code == code and caught.value.message
    assert after["credited_s"] == BEAT
