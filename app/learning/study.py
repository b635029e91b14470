"""Play sessions and heartbeats: the server proves study time, the browser only reports.

A play session lives in Redis (shared by every server process, see ``plays.py``): the
learner, the video, the last accepted beat's server time and position, the last seq, the
watched segments and the attention-check state; ``study:active:<user_id>`` names the
learner's one active session, so starting another video (other tab, other device) ends
the first. Each beat is judged against the server clock (``judge``) and against the
attention checks (``attention.step``). A credited segment is written in one atomic Redis
step with the session update: into the learner's live coverage and onto the stream
``study:credits``; only then is the beat acknowledged. The flusher (``writer.py``) moves
the stream into the database through ``record_watched`` (write-behind; the bound is
stated in docs/realtime.md), so a server restart loses nothing that was acknowledged.
Credit earned while an attention check is open is held in the session, not written,
until the check is answered (``answers.py``). Play sessions are opened and ended in
``playback.py``. The socket event and its HTTP fallback both call ``beat_reply``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math

from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import epoch_ms
from app.db import Database
from app.errors import AppError
from app.learning import attention, credit, plays, segments
from app.learning.plays import CREDITS_STREAM, EXPIRED, REPLACED, PlayState
from app.lib.http import is_id, is_number

__all__ = ["CREDITS_STREAM", "PlayState", "StudyRules", "beat", "beat_reply", "judge"]

REASONS = ("tick", "pause", "seek", "ended")
NOTES = {
    "too_early": "学习记录发送过于频繁，本次不计时",
    "jump": "检测到快进或拖动进度，跳过的部分不计学习时长",
    "backward": "播放位置已回退，重复观看的部分不重复计时",
    "rate": "倍速播放不计学习时长，请以正常速度（1倍速）观看",
    **attention.NOTES,
}
STALE = "重复或过期的学习记录，已忽略"
NAMESPACE = "/study"


@dataclasses.dataclass(frozen=True)
class StudyRules:
    """Heartbeat timing. ``beat_s`` is the page's interval; a tick may come ``early_s``
    sooner (timer jitter); the position may run ``tolerance_s`` ahead of the server clock
    (network jitter) before it counts as a jump; one beat credits at most
    ``beat_s + tolerance_s``. An attention check must be answered within ``answer_s``."""

    beat_s: float = 15.0
    early_s: float = 2.0
    tolerance_s: float = 2.0
    idle_ttl_s: int = 3600
    answer_s: float = 60.0

    @classmethod
    def from_config(cls, config: object) -> StudyRules:
        """The rules of a deployment (SAFECE_STUDY_BEAT_SECONDS sets the interval)."""
        beat = float(config.study_beat_seconds)
        return cls(beat_s=beat, early_s=min(2.0, beat * 0.2), tolerance_s=min(2.0, beat * 0.5))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The judgement of one beat: credit [start_ms, end_ms) or nothing, and the new state."""

    accepted: bool  # moves the session on (time and position); a refused beat does not
    start_ms: int = 0
    end_ms: int = 0
    position_ms: int = 0
    note: str | None = None

    @property
    def credit_ms(self) -> int:
        return self.end_ms - self.start_ms


def judge(
    state: PlayState,
    *,
    rules: StudyRules,
    now_ms: int,
    reason: str,
    position_ms: int,
    to_ms: int | None,
    rate: float,
) -> Verdict:
    """Credit at most min(server time since the last accepted beat, position advance,
    interval + tolerance); nothing for early ticks, jumps, rewinds or rates above 1x."""
    elapsed = now_ms - state.at_ms
    advance = position_ms - state.position_ms
    after = to_ms if reason == "seek" else position_ms
    if reason == "tick" and elapsed < (rules.beat_s - rules.early_s) * 1000:
        return Verdict(accepted=False, note="too_early")
    if rate > 1.0:
        return Verdict(accepted=True, position_ms=after, note="rate")
    if advance < 0:
        return Verdict(accepted=True, position_ms=after, note="backward")
    if advance > elapsed + rules.tolerance_s * 1000:
        return Verdict(accepted=True, position_ms=after, note="jump")
    credit = max(0, min(elapsed, advance, int((rules.beat_s + rules.tolerance_s) * 1000)))
    return Verdict(
        accepted=True, start_ms=position_ms - credit, end_ms=position_ms, position_ms=after
    )


@dataclasses.dataclass
class BeatResult:
    credited_s: float
    note: str | None = None
    watched_ms: int | None = None
    duration_ms: int = 0
    complete: bool = False
    course_complete: bool = False
    # Set when this beat completed a video: the caller then asks ``check_course``.
    completed_video: int | None = None
    # Attention checks: the open challenge (as the page gets it) and the credit held
    # back until it is answered; `passed` answers an answer.
    challenge: dict[str, object] | None = None
    held_ms: int = 0
    passed: bool | None = None
    message: str | None = None
    # A pause after too many wrong answers (attention.Lock.reply), while it lasts.
    lock: dict[str, object] | None = None

    def reply(self) -> dict[str, object]:
        body: dict[str, object] = {"ok": True, "credited_s": self.credited_s}
        if self.passed is not None:
            body["passed"] = self.passed
        if self.note:
            body["note"] = self.note
            body["message"] = NOTES[self.note]
        if self.watched_ms is not None:
            body.update(
                percent=segments.percent(self.watched_ms, self.duration_ms),
                watched_s=self.watched_ms / 1000,
                complete=self.complete,
                course_complete=self.course_complete,
            )
            if self.credited_s == 0 and "note" not in body:
                body["message"] = "该片段已学习过，课程可重复学习但不重复累计学习时长"
        if self.message:
            body["message"] = self.message
        if self.challenge is not None:
            body["challenge"] = self.challenge
            body["held_s"] = self.held_ms / 1000
        if self.lock is not None:
            body["lock"] = self.lock
            body["message"] = self.lock["message"]
        return body


def _number(value: object, what: str) -> float:
    """A finite number from a request, or bad_request (an integer too large for a float
    included: ``float(10**400)`` raises)."""
    if not is_number(value):
        raise AppError("bad_request", f"请求格式不正确：{what}无效")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise AppError("bad_request", f"请求格式不正确：{what}无效")
    return number


def token_of(body: object) -> str:
    if not isinstance(body, dict):
        raise AppError("bad_request", "请求格式不正确")
    token = body.get("token")
    if not isinstance(token, str) or not 10 <= len(token) <= 64:
        raise AppError("play_expired", EXPIRED, 409)
    return token


def refuse(moved: int) -> None:
    """Turn an APPLY_SCRIPT refusal into the error the page understands."""
    if moved == -3:
        raise AppError("play_expired", EXPIRED, 409)
    if moved == -1:
        raise AppError("play_replaced", REPLACED, 409)
    if moved != 1:
        raise AppError("stale_beat", STALE, 409)


@dataclasses.dataclass
class Outcome:
    """A judged beat: the session as it will be, and what the reply says."""

    state: PlayState
    coverage: segments.Segments
    new_ms: int = 0
    note: str | None = None


def _judge_beat(
    state: PlayState,
    before: segments.Segments,
    verdict: Verdict,
    *,
    seq: int,
    sid: str,
    now_ms: int,
    rules: StudyRules,
) -> tuple[plays.Change, Outcome]:
    """What a judged beat changes: the session, and credit now, held or dropped."""
    change = plays.Change(seq=seq, sid=sid, credit_at_ms=now_ms)
    out = Outcome(state=state, coverage=before, note=verdict.note)
    new: dict[str, object] = {"seq": seq, "rev": state.rev + 1}
    if verdict.accepted:
        change.moved_to = (now_ms, verdict.position_ms)
        new.update(at_ms=now_ms, position_ms=verdict.position_ms)
        _attend(state, before, verdict, change, out, new, now_ms=now_ms, rules=rules)
    out.state = dataclasses.replace(state, **new)
    return change, out


def _attend(
    state: PlayState,
    before: segments.Segments,
    verdict: Verdict,
    change: plays.Change,
    out: Outcome,
    new: dict[str, object],
    *,
    now_ms: int,
    rules: StudyRules,
) -> None:
    """An accepted beat's credit: now, held while a check is open, or dropped during a pause
    after wrong answers (attention.step)."""
    step = attention.step(
        due_ms=state.due_ms,
        played_ms=state.played_ms,
        challenge=state.challenge,
        credit_ms=verdict.credit_ms,
        now_ms=now_ms,
        locked_until_ms=state.locked_until_ms,
    )
    held, held_at = state.held, state.held_at_ms
    if step.missed:
        held, held_at, out.note = (), 0, "attention_missed"
    if verdict.credit_ms > 0 and step.credit == "now":
        out.coverage, out.new_ms = segments.add(before, verdict.start_ms, verdict.end_ms)
        change.coverage = plays.live(out.coverage, verdict.end_ms)
        change.credits.append((verdict.start_ms, verdict.end_ms))
    elif verdict.credit_ms > 0 and step.credit == "held":
        held, held_at = attention.hold(held, verdict.start_ms, verdict.end_ms), now_ms
        out.note = out.note or "attention_pending"
    if step.locked:
        out.note = "attention_locked"
    if state.due_ms > 0:
        change.learner.update(ap=step.played_ms, ad=state.due_ms)
        new["played_ms"] = step.played_ms
    if step.unlocked:
        change.learner.update(aw=0, al=0)
        new.update(wrong=0, locked_until_ms=0)
    if step.issue:
        change.challenge = attention.Challenge.new(now_ms, rules.answer_s)
        change.fields.update(change.challenge.fields())
        change.closed = state.challenge.nonce if state.challenge else ""
        new["challenge"] = change.challenge
    if held != state.held:
        change.fields.update(held=segments.dump([list(s) for s in held]), hat=held_at)
        new.update(held=held, held_at_ms=held_at)


def result_of(
    state: PlayState, before: segments.Segments, out: Outcome, now_ms: int, **extra
) -> BeatResult:
    """The reply to a beat or an answer, from what it credited and what is still open."""
    result = BeatResult(credited_s=0.0, note=out.note, **extra)
    if out.state.challenge is not None:
        result.challenge = out.state.challenge.reply(now_ms)
        result.held_ms = segments.covered_ms([list(s) for s in out.state.held])
    if out.state.lock is not None and out.state.locked_until_ms > now_ms:
        result.lock = out.state.lock.reply(now_ms)
    if out.coverage is before:
        return result
    watched = segments.covered_ms(out.coverage)
    complete = segments.is_complete(watched, state.duration_ms)
    just_completed = complete and not segments.is_complete(
        segments.covered_ms(before), state.duration_ms
    )
    result.credited_s = out.new_ms / 1000
    result.watched_ms = watched
    result.duration_ms = state.duration_ms
    result.complete = complete
    result.completed_video = state.video_id if just_completed else None
    return result


async def beat(
    *,
    redis,
    rules: StudyRules,
    user_id: int,
    body: object,
    now: dt.datetime,
    sid: str = "",
    cache: dict | None = None,
) -> BeatResult:
    """Judge one heartbeat ``{token, seq, position, reason, to?, rate?}`` and credit it.

    The credit is in Redis (coverage and stream) when this returns, or held with an open
    attention check; the database follows through the flusher. When the beat completed a
    video, ``completed_video`` says so and the caller asks ``check_course`` whether the
    course is complete too. A socket passes `cache` (its own dict) so that a beat costs one
    Redis round trip: the session it last saw is judged and the atomic update refuses it
    if that copy went stale."""
    token = token_of(body)
    seq = body.get("seq")
    if not is_id(seq):
        raise AppError("bad_request", "请求格式不正确：序号无效")
    position = _number(body.get("position"), "播放位置")
    reason = body.get("reason", "tick")
    if reason not in REASONS:
        raise AppError("bad_request", "请求格式不正确：未知的心跳类型")
    to = _number(body.get("to"), "跳转位置") if reason == "seek" else None
    rate = _number(body.get("rate", 1), "播放速度")
    if rate <= 0:
        raise AppError("bad_request", "请求格式不正确：播放速度无效")

    cached = cache.get(token) if cache is not None else None
    now_ms = epoch_ms(now)
    for _ in range(2):
        if cached is None:
            cached = await plays.load(redis, token, user_id)
        state, before = cached
        if seq <= state.seq:
            raise AppError("stale_beat", STALE, 409)
        limit = state.duration_ms + 1000
        if not 0 <= position * 1000 <= limit or (to is not None and not 0 <= to * 1000 <= limit):
            raise AppError("bad_request", "请求格式不正确：播放位置超出视频长度")
        if now_ms >= state.until_ms:
            await stop(redis=redis, user_id=user_id, token=token)
            raise AppError("study_closed", "课程已下架或本批次学习已截止，不再计入学习时长", 410)
        verdict = judge(
            state,
            rules=rules,
            now_ms=now_ms,
            reason=reason,
            position_ms=min(round(position * 1000), state.duration_ms),
            to_ms=None if to is None else min(round(to * 1000), state.duration_ms),
            rate=rate,
        )
        change, out = _judge_beat(
            state, before, verdict, seq=seq, sid=sid, now_ms=now_ms, rules=rules
        )
        moved = await plays.apply(
            redis, token=token, state=state, change=change, ttl_s=rules.idle_ttl_s
        )
        if moved != -2 or cache is None or token not in cache:
            break
        # Our copy was stale (a beat of this session arrived through another process or
        # the HTTP fallback): read the session again and judge afresh.
        cache.pop(token)
        cached = None
    refuse(moved)
    if cache is not None:
        cache.clear()  # a socket plays one session at a time
        cache[token] = (out.state, out.coverage)
    return result_of(state, before, out, now_ms)


async def finish(result: BeatResult, *, db: Database, redis, user_id: int) -> dict[str, object]:
    """The reply to a beat or an answer; when it completed a video, a database read says
    whether it completed the course too (the common beat needs no database at all)."""
    if result.completed_video is not None:
        async with db.read() as session:
            await check_course(result, session=session, redis=redis, user_id=user_id)
    return result.reply()


async def beat_reply(
    *,
    db: Database,
    redis,
    rules: StudyRules,
    user_id: int,
    body: object,
    now: dt.datetime,
    sid: str = "",
    cache: dict | None = None,
) -> dict[str, object]:
    """One heartbeat judged, credited and answered: the socket event ``beat`` and its HTTP
    fallback alike (``beat`` says what ``sid`` and ``cache`` are for)."""
    result = await beat(
        redis=redis, rules=rules, user_id=user_id, body=body, now=now, sid=sid, cache=cache
    )
    return await finish(result, db=db, redis=redis, user_id=user_id)


async def check_course(result: BeatResult, *, session: AsyncSession, redis, user_id: int) -> None:
    """After a beat that completed a video: whether it completed the course too."""
    if result.completed_video is not None:
        result.course_complete = await _others_complete(
            session, redis, user_id, result.completed_video
        )


async def _others_complete(session: AsyncSession, redis, user_id: int, video_id: int) -> bool:
    """Whether the rest of the course is complete: in the database or, for credits the
    flusher has not written yet, in the live coverage."""
    others = await credit.sibling_videos(session=session, user_id=user_id, video_id=video_id)
    pending = [(vid, duration) for vid, duration, done in others if not done]
    if not pending:
        return True
    values = await redis.mget([plays.coverage_key(user_id, vid) for vid, _ in pending])
    for (_, duration), value in zip(pending, values, strict=True):
        covered = segments.covered_ms(json.loads(value or "{}").get("s", []))
        if not segments.is_complete(covered, duration):
            return False
    return True


async def stop(*, redis, user_id: int, token: object) -> None:
    """End a play session (the page sends its last beat first)."""
    if isinstance(token, str) and 10 <= len(token) <= 64:
        await plays.script(redis, plays.STOP_SCRIPT)(
            keys=[plays.play_key(token), plays.active_key(user_id)], args=[token, user_id]
        )
