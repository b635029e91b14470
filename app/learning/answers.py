"""Answers to attention checks (防挂机), over the socket and the HTTP fallback alike: judged
in one compare-and-set step with the play session (``plays.apply``), three tries per check
and then a pause (``attention.judge_wrong``); and the image of an open check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from app.clock import epoch_ms
from app.db import Database
from app.errors import AppError, NotFound
from app.learning import attention, plays, segments
from app.learning.plays import PlayState
from app.learning.study import BeatResult, Outcome, StudyRules, finish, refuse, result_of, token_of


def _judge_answer(
    state: PlayState,
    before: segments.Segments,
    challenge: attention.Challenge,
    code: str,
    *,
    now_ms: int,
    rules: StudyRules,
) -> tuple[plays.Change, Outcome, bool]:
    """A right answer releases the held credit and draws the next due point; a wrong one
    drops it and opens a new challenge, or, the learner's last try used, a pause."""
    out = Outcome(state=dataclasses.replace(state, rev=state.rev + 1), coverage=before)
    if not attention.is_right(challenge, code):
        wrong, lock = attention.judge_wrong(state.wrong, now_ms)
        if lock is not None:
            change = plays.Change(
                fields=dict(attention.CLEARED),
                learner={"aw": 0, "al": lock.until_ms},
                closed=challenge.nonce,
            )
            out.state = dataclasses.replace(
                out.state, challenge=None, held=(), held_at_ms=0, wrong=0,
                locked_until_ms=lock.until_ms,
            )  # fmt: skip
            out.note = "attention_locked"
            return change, out, False
        fresh = attention.Challenge.new(now_ms, rules.answer_s)
        change = plays.Change(
            fields={**fresh.fields(), "held": "[]", "hat": 0},
            learner={"aw": wrong},
            challenge=fresh,
            closed=challenge.nonce,
        )
        out.state = dataclasses.replace(
            out.state, challenge=fresh, held=(), held_at_ms=0, wrong=wrong
        )
        out.note = "attention_wrong"
        return change, out, False
    due = attention.draw_due_ms(*state.interval_ms)
    change = plays.Change(
        fields=dict(attention.CLEARED),
        credits=list(state.held),
        credit_at_ms=state.held_at_ms,
        learner={"ap": 0, "ad": due, "aw": 0},
        closed=challenge.nonce,
    )
    coverage = before
    for start_ms, end_ms in state.held:
        coverage, new = segments.add(coverage, start_ms, end_ms)
        out.new_ms += new
    if state.held:
        out.coverage = coverage
        change.coverage = plays.live(coverage, max(e for _, e in state.held))
    out.state = dataclasses.replace(
        out.state, challenge=None, held=(), held_at_ms=0, played_ms=0, due_ms=due, wrong=0
    )
    return change, out, True


def _answer_message(out: Outcome, passed: bool) -> str | None:
    if passed:
        return attention.PASSED
    if out.note == "attention_wrong":
        return attention.WRONG_LEFT.format(left=attention.ATTEMPTS - out.state.wrong)
    return None


async def answer(
    *, redis, rules: StudyRules, user_id: int, body: object, now: dt.datetime
) -> BeatResult:
    """Judge the answer ``{token, nonce, code}`` to the open attention check of a session;
    during a pause after too many wrong answers, nothing is judged."""
    token = token_of(body)
    nonce, code = body.get("nonce"), body.get("code")
    if not isinstance(code, str) or not code.strip():
        raise AppError("bad_request", "请输入图中的字符")
    if len(code) > 16:
        raise AppError("bad_request", attention.TOO_LONG)
    if not isinstance(nonce, str) or not 8 <= len(nonce) <= 64:
        raise AppError("attention_unknown", attention.UNKNOWN, 409)
    now_ms = epoch_ms(now)
    for _ in range(2):
        state, before = await plays.load(redis, token, user_id)
        if state.lock is not None and now_ms < state.locked_until_ms:
            lock = state.lock.reply(now_ms)
            raise AppError("attention_locked", lock["message"], 429, lock=lock)
        challenge = state.challenge
        if challenge is None or not secrets.compare_digest(
            challenge.nonce.encode(), nonce.encode()
        ):
            raise AppError("attention_unknown", attention.UNKNOWN, 409)
        if now_ms > challenge.deadline_ms:
            raise AppError("attention_expired", attention.EXPIRED, 410)
        change, out, passed = _judge_answer(
            state, before, challenge, code, now_ms=now_ms, rules=rules
        )
        moved = await plays.apply(
            redis, token=token, state=state, change=change, ttl_s=rules.idle_ttl_s
        )
        if moved != -2:
            break
    refuse(moved)
    return result_of(
        state, before, out, now_ms, passed=passed, message=_answer_message(out, passed)
    )


async def challenge_image(*, redis, user_id: int, nonce: str) -> bytes:
    """The PNG of an open challenge of this learner (the code itself never leaves here)."""
    found = await plays.challenge_image(redis, nonce=nonce, user_id=user_id)
    if found is None:
        raise NotFound("验证码已失效，请点击“重新验证”获取新的验证码")
    return attention.image(*found)


async def answer_reply(
    *, db: Database, redis, rules: StudyRules, user_id: int, body: object, now: dt.datetime
) -> dict[str, object]:
    """An answer judged and answered: the socket event ``answer`` and its HTTP fallback
    alike (a right answer may release credit that completes the course)."""
    result = await answer(redis=redis, rules=rules, user_id=user_id, body=body, now=now)
    return await finish(result, db=db, redis=redis, user_id=user_id)
