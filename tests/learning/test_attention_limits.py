"""What a script can and cannot do against attention checks: it cannot redraw the image
from what the page knows, it gets a few answers per check and then a pause without credit,
and nothing of a check it no longer owes (its image, its Redis key) outlives it."""

from __future__ import annotations

import asyncio
import random

import pytest

from app.accounts.captcha import ALPHABET, draw
from app.errors import NotFound
from app.learning import answers, attention, study
from tests.learning.conftest import Player, challenge_code
from tests.learning.test_attention import BEAT, HOURS, play_until_challenge
from tests.learning.test_study import watched_ms

PAUSE = attention.PAUSE_S


@pytest.fixture
async def player(svc, clock, long_video):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    return p


async def image_of(svc, p: Player, nonce: str) -> bytes:
    return await answers.challenge_image(redis=svc.redis, user_id=p.user.id, nonce=nonce)


async def challenge_keys(svc) -> list[str]:
    return [key async for key in svc.redis.scan_iter("study:challenge:*")]


async def code_or_nothing(svc, nonce: str | None) -> str:
    value = await svc.redis.get(f"study:challenge:{nonce}") if nonce else None
    return value.split(":")[1] if value else ""


async def test_image__a_script_cannot_redraw_it_from_the_nonce(svc, player):
    reply, _ = await play_until_challenge(player)
    nonce = reply["challenge"]["nonce"]
    code = await challenge_code(svc, nonce)

    served = await image_of(svc, player, nonce)
    again = await image_of(svc, player, nonce)
    # The attacker's way: draw every candidate as the page's nonce would seed it, compare.
    candidates = {draw(c, random.Random(nonce)) for c in (code, code.lower(), "3333")}

    assert served == again  # the same image every time it is fetched
    assert served not in candidates  # not even the right code redraws it
    # Two checks with the same code look different: the seed is drawn with each check.
    assert attention.image(code, 1) != attention.image(code, 2)


async def test_answers__a_few_tries_then_a_pause_without_credit_then_the_next_check(
    svc, clock, player
):
    reply, credited = await play_until_challenge(player)
    nonce = reply["challenge"]["nonce"]
    tries = []
    for _ in range(attention.ATTEMPTS):
        tries.append(await player.answer(nonce, "0000"))
        nonce = tries[-1].get("challenge", {}).get("nonce", nonce)
    locked_answer = await player.answer(nonce, "0000")
    during = [await player.play(BEAT) for _ in range(PAUSE // BEAT - 1)]
    clock.advance(seconds=BEAT)
    after = await player.play(BEAT)
    nonce = after["challenge"]["nonce"]
    passed = await player.answer(nonce, await challenge_code(svc, nonce))
    resumed = await player.play(BEAT)

    assert [t["note"] for t in tries] == ["attention_wrong"] * 2 + ["attention_locked"]
    assert tries[0]["message"].endswith("（还可输入 2 次）")
    assert tries[1]["message"].endswith("（还可输入 1 次）")
    last = tries[-1]
    assert last["ok"] and last["passed"] is False and "challenge" not in last
    assert (
        last["lock"]["seconds"] == PAUSE
        and last["lock"]["until"] == last["lock"]["now"] + PAUSE * 1000
    )
    assert last["message"].startswith("验证码连续 3 次输入错误，暂停计时 5 分钟")
    assert "5 分钟后可重新验证" in last["message"]
    # During the pause no answer is judged and no play earns anything.
    assert locked_answer["code"] == "attention_locked" and "暂停计时" in locked_answer["message"]
    assert all(d["credited_s"] == 0 and d["note"] == "attention_locked" for d in during)
    assert during[-1]["lock"]["seconds"] == BEAT and "15 秒后可重新验证" in during[-1]["message"]
    # The first beat after the pause brings the next check; its own play is not held.
    assert after["credited_s"] == 0 and after["held_s"] == 0 and "lock" not in after
    assert passed["passed"] and passed["credited_s"] == 0
    assert resumed["credited_s"] == BEAT
    assert await watched_ms(svc, player.user.id, player.video_id) == (credited + BEAT) * 1000


async def test_answers__a_new_session_or_page_does_not_restore_the_tries(svc, clock, long_video):
    user, video_id = await long_video()
    first = Player(svc, clock, user, video_id)
    await first.start()
    reply, _ = await play_until_challenge(first)
    nonce = reply["challenge"]["nonce"]
    for _ in range(attention.ATTEMPTS - 1):
        nonce = (await first.answer(nonce, "0000"))["challenge"]["nonce"]
    second = Player(svc, clock, user, video_id)
    await second.start()  # another tab, a reload, another device

    owed = await second.play(BEAT)
    last = await second.answer(owed["challenge"]["nonce"], "0000")
    third = Player(svc, clock, user, video_id)
    await third.start()
    still = await third.play(BEAT)

    assert last["note"] == "attention_locked"
    assert still["note"] == "attention_locked" and still["credited_s"] == 0


async def test_answers__a_right_answer_restores_the_tries(svc, clock, player):
    reply, _ = await play_until_challenge(player)
    nonce = reply["challenge"]["nonce"]
    for _ in range(attention.ATTEMPTS - 1):
        nonce = (await player.answer(nonce, "0000"))["challenge"]["nonce"]
    await player.answer(nonce, await challenge_code(svc, nonce))

    reply, _ = await play_until_challenge(player)
    wrong = await player.answer(reply["challenge"]["nonce"], "0000")

    assert wrong["note"] == "attention_wrong" and "还可输入 2 次" in wrong["message"]


async def test_answers__a_blind_guessing_script_earns_nothing_past_the_first_check(
    svc, clock, player
):
    """An hour of honest 1x beats and, whenever a check is open, as many guesses as the
    server takes: credit stops at the first check, and few guesses are ever judged."""
    guesser = random.Random(25)
    total, at_check, nonce, judged, refusals = 0.0, None, None, 0, set()
    for _ in range(HOURS // BEAT):
        reply = await player.play(BEAT)
        total += reply["credited_s"]
        if "challenge" in reply:
            at_check = total if at_check is None else at_check
            nonce = reply["challenge"]["nonce"]
        for _ in range(20 if nonce else 0):  # 20 guesses a beat, paused or not
            # Blind guesses: a real guesser hits 1 in 25**4 (390,625) per judged guess.
            # Skipping the right code keeps this test deterministic.
            code, guess = await code_or_nothing(svc, nonce), ""
            while not guess or guess == code:
                guess = "".join(guesser.choice(ALPHABET) for _ in range(4))
            answered = await player.answer(nonce, guess)
            if answered["ok"]:
                judged += 1
                nonce = answered.get("challenge", {}).get("nonce", nonce)
            else:
                refusals.add(answered["code"])

    assert at_check is not None and total == at_check
    assert await watched_ms(svc, player.user.id, player.video_id) == total * 1000
    # Three guesses per pause of five minutes (and a beat to get the next code): at most
    # 36 an hour however fast the script asks; the rest are refused unjudged.
    assert 0 < judged <= attention.ATTEMPTS * HOURS // PAUSE
    assert refusals == {"attention_locked"}


async def test_answers__concurrent_guesses_are_judged_against_one_try_each(svc, clock, player):
    reply, _ = await play_until_challenge(player)
    nonce = reply["challenge"]["nonce"]

    replies = await asyncio.gather(*(player.answer(nonce, "0000") for _ in range(30)))

    judged = [r for r in replies if r["ok"]]
    assert len(judged) == 1 and judged[0]["note"] == "attention_wrong"
    assert {r["code"] for r in replies if not r["ok"]} == {"attention_unknown"}


async def test_keys__an_answered_or_replaced_check_loses_its_image_and_key_at_once(
    svc, clock, long_video
):
    user, video_id = await long_video()
    p = Player(svc, clock, user, video_id)
    await p.start()
    reply, _ = await play_until_challenge(p)
    first = reply["challenge"]["nonce"]

    wrong = await p.answer(first, "0000")  # replaced by a new code
    second = wrong["challenge"]["nonce"]
    after_wrong = await challenge_keys(svc)
    clock.advance(seconds=61)
    missed = await p.play(0)  # replaced: the deadline passed
    third = missed["challenge"]["nonce"]
    after_miss = await challenge_keys(svc)
    passed = await p.answer(third, await challenge_code(svc, third))
    after_pass = await challenge_keys(svc)

    assert after_wrong == [f"study:challenge:{second}"]
    assert after_miss == [f"study:challenge:{third}"]
    assert passed["passed"] and after_pass == []
    for nonce in (first, second, third):
        with pytest.raises(NotFound):
            await image_of(svc, p, nonce)


async def test_keys__a_session_taken_over_or_stopped_loses_its_check(svc, clock, long_video):
    user, video_id = await long_video()
    first = Player(svc, clock, user, video_id)
    await first.start()
    reply, _ = await play_until_challenge(first)
    second = Player(svc, clock, user, video_id)
    await second.start()  # takes over: the first page's check is void

    taken_over = await challenge_keys(svc)
    owed = await second.play(BEAT)
    await study.stop(redis=svc.redis, user_id=user.id, token=second.token)

    assert taken_over == [] and "challenge" in owed and "challenge" in reply
    assert await challenge_keys(svc) == []


async def test_keys__a_check_costs_one_key_while_open_and_none_after(svc, clock, player):
    await player.play(BEAT)  # the session, coverage, counter and stream exist from here
    before = set(await svc.redis.keys("*"))
    reply, _ = await play_until_challenge(player)
    nonce = reply["challenge"]["nonce"]
    while_open = set(await svc.redis.keys("*"))
    for _ in range(attention.ATTEMPTS - 1):
        nonce = (await player.answer(nonce, "0000"))["challenge"]["nonce"]
    await player.answer(nonce, await challenge_code(svc, nonce))

    assert while_open - before == {f"study:challenge:{reply['challenge']['nonce']}"}
    assert set(await svc.redis.keys("*")) == before
