"""Play sessions and heartbeats: the server proves study time, the browser only reports.

A play session lives in Redis (shared by every server process): ``study:play:<token>``
holds the learner, the video, the last accepted beat's server time and position, the last
seq and the watched segments; ``study:active:<user_id>`` names the learner's one active
session, so starting another video (other tab, other device) ends the first. Each beat is
judged against the server clock (``judge``). A credited segment is written in one atomic
Redis step with the session update: into the learner's live coverage and onto the stream
``study:credits``; only then is the beat acknowledged. The flusher (``writer.py``) moves
the stream into the database through ``record_watched`` (write-behind; the bound is
stated in docs/realtime.md), so a server restart loses nothing that was acknowledged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import secrets
import weakref

from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import epoch_ms
from app.errors import AppError
from app.learning import segments, service

REASONS = ("tick", "pause", "seek", "ended")
NOTES = {
    "too_early": "学习记录发送过于频繁，本次不计时",
    "jump": "检测到快进或拖动进度，跳过的部分不计学习时长",
    "backward": "播放位置已回退，重复观看的部分不重复计时",
    "rate": "倍速播放不计学习时长，请以正常速度（1倍速）观看",
}
REPLACED = "您已在其他页面或设备上开始播放视频，本页面已停止计时"
EXPIRED = "播放会话已失效，请刷新页面后继续学习"
STALE = "重复或过期的学习记录，已忽略"
CREDITS_STREAM = "study:credits"
NAMESPACE = "/study"
COVERAGE_TTL_S = 2 * 24 * 3600


@dataclasses.dataclass(frozen=True)
class StudyRules:
    """Heartbeat timing. ``beat_s`` is the page's interval; a tick may come ``early_s``
    sooner (timer jitter); the position may run ``tolerance_s`` ahead of the server clock
    (network jitter) before it counts as a jump; one beat credits at most
    ``beat_s + tolerance_s``."""

    beat_s: float = 15.0
    early_s: float = 2.0
    tolerance_s: float = 2.0
    idle_ttl_s: int = 3600

    @classmethod
    def from_config(cls, config: object) -> StudyRules:
        """The rules of a deployment (SAFECE_STUDY_BEAT_SECONDS sets the interval)."""
        beat = float(config.study_beat_seconds)
        return cls(beat_s=beat, early_s=min(2.0, beat * 0.2), tolerance_s=min(2.0, beat * 0.5))


@dataclasses.dataclass(frozen=True)
class PlayState:
    """What the server remembers of a play session between beats (times in ms)."""

    user_id: int
    video_id: int
    duration_ms: int
    seq: int
    at_ms: int
    position_ms: int
    until_ms: int


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


def _play_key(token: str) -> str:
    return f"study:play:{token}"


def _active_key(user_id: int) -> str:
    return f"study:active:{user_id}"


def _coverage_key(user_id: int, video_id: int) -> str:
    return f"study:coverage:{user_id}:{video_id}"


# Make `token` the learner's active session; end the one it replaces and return its socket.
START_SCRIPT = """
local old = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', 172800)
if old and old ~= ARGV[1] then
  local old_key = 'study:play:' .. old
  if redis.call('EXISTS', old_key) == 1 then
    redis.call('HSET', old_key, 'ended', 'replaced')
    return {old, redis.call('HGET', old_key, 'sid') or ''}
  end
end
return {}
"""

# Move a session on only if it is still active and nobody moved it since we read it; a
# credited segment goes into the live coverage and onto the credits stream in the same step.
BEAT_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'seq') ~= ARGV[2] then return -2 end
redis.call('HSET', KEYS[1], 'seq', ARGV[3], 'sid', ARGV[7])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'at', ARGV[4], 'pos', ARGV[5]) end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'segs', ARGV[8])
  redis.call('SET', KEYS[3], ARGV[8], 'EX', 172800)
  redis.call('XADD', KEYS[4], '*', 'u', ARGV[9], 'v', ARGV[10], 's', ARGV[11], 'e', ARGV[12], 'at', ARGV[4])
end
return 1
"""

_SCRIPTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _script(redis, source: str):
    """The script bound to this Redis client (sent once, then called by its SHA1)."""
    scripts = _SCRIPTS.setdefault(redis, {})
    if source not in scripts:
        scripts[source] = redis.register_script(source)
    return scripts[source]


STOP_SCRIPT = """
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[2] then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return redis.call('DEL', KEYS[1])
"""


@dataclasses.dataclass
class Started:
    token: str
    video_id: int
    duration_s: float
    resume_s: float
    interval_s: float
    percent: int
    replaced: tuple[str, str] | None  # (token, socket id) of the session it ended

    def reply(self) -> dict[str, object]:
        return {
            "ok": True,
            "token": self.token,
            "video_id": self.video_id,
            "duration_s": self.duration_s,
            "resume_s": self.resume_s,
            "interval_s": self.interval_s,
            "percent": self.percent,
        }


def _live(coverage: segments.Segments, position_ms: int) -> str:
    """The live coverage as stored in Redis: segments and the last credited position."""
    return json.dumps({"s": coverage, "p": position_ms}, separators=(",", ":"))


def _union(*stored: str | None) -> segments.Segments:
    merged: segments.Segments = []
    for text in stored:
        for start, end in segments.parse(text):
            merged, _ = segments.add(merged, start, end)
    return merged


async def start(
    *,
    session: AsyncSession,
    redis,
    rules: StudyRules,
    user_id: int,
    video_id: object,
    now: dt.datetime,
    sid: str = "",
) -> Started:
    """Open a play session for a video of an open course the learner is enrolled in."""
    if isinstance(video_id, str) and video_id.isdigit():
        video_id = int(video_id)
    if not isinstance(video_id, int) or isinstance(video_id, bool):
        raise AppError("bad_request", "请求格式不正确：缺少视频编号")
    target = await service.play_target(session=session, user_id=user_id, video_id=video_id, now=now)
    # The live coverage may hold credits the flusher has not written yet: keep both, and
    # resume where the most recent credit ended.
    live = json.loads(await redis.get(_coverage_key(user_id, video_id)) or "{}")
    coverage = _union(target.segments, json.dumps(live.get("s", [])))
    resume = target.resume_ms
    if "p" in live:
        resume = 0 if live["p"] >= target.duration_ms - 1000 else live["p"]
    live_value = _live(coverage, resume)
    token = secrets.token_urlsafe(18)
    fields = {
        "uid": user_id,
        "vid": video_id,
        "dur": target.duration_ms,
        "seq": 0,
        "at": epoch_ms(now),
        "pos": resume,
        "until": epoch_ms(target.until),
        "sid": sid,
        "segs": live_value,
    }
    flat = [x for pair in fields.items() for x in pair]
    result = await _script(redis, START_SCRIPT)(
        keys=[_play_key(token), _active_key(user_id), _coverage_key(user_id, video_id)],
        args=[token, rules.idle_ttl_s, live_value, *flat],
    )
    return Started(
        token=token,
        video_id=video_id,
        duration_s=target.duration_ms / 1000,
        resume_s=resume / 1000,
        interval_s=rules.beat_s,
        percent=segments.percent(segments.covered_ms(coverage), target.duration_ms),
        replaced=(result[0], result[1]) if result else None,
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

    def reply(self) -> dict[str, object]:
        body: dict[str, object] = {"ok": True, "credited_s": self.credited_s}
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
        return body


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AppError("bad_request", f"请求格式不正确：{what}无效")
    return float(value)


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

    The credit is in Redis (coverage and stream) when this returns; the database follows
    through the flusher. When the beat completed a video, ``completed_video`` says so and
    the caller asks ``check_course`` whether the course is complete too. A socket
    passes `cache` (its own dict) so that a beat costs one Redis round trip: the session
    it last saw is judged and the atomic update refuses it if that copy went stale."""
    if not isinstance(body, dict):
        raise AppError("bad_request", "请求格式不正确")
    token = body.get("token")
    if not isinstance(token, str) or not 10 <= len(token) <= 64:
        raise AppError("play_expired", EXPIRED, 409)
    seq = body.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise AppError("bad_request", "请求格式不正确：序号无效")
    position = _number(body.get("position"), "播放位置")
    reason = body.get("reason", "tick")
    if reason not in REASONS:
        raise AppError("bad_request", "请求格式不正确：未知的心跳类型")
    to = _number(body.get("to"), "跳转位置") if reason == "seek" else None
    rate = _number(body.get("rate", 1), "播放速度")

    cached = cache.get(token) if cache is not None else None
    now_ms = epoch_ms(now)
    for _ in range(2):
        if cached is None:
            cached = await _load(redis, token, user_id)
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
        coverage, new_ms = before, 0
        credit: list[object] = [""]
        if verdict.credit_ms > 0:
            coverage, new_ms = segments.add(before, verdict.start_ms, verdict.end_ms)
            credit = [
                _live(coverage, verdict.end_ms),
                user_id,
                state.video_id,
                verdict.start_ms,
                verdict.end_ms,
            ]
        moved = await _script(redis, BEAT_SCRIPT)(
            keys=[
                _play_key(token),
                _active_key(user_id),
                _coverage_key(user_id, state.video_id),
                CREDITS_STREAM,
            ],
            args=[
                token,
                state.seq,
                seq,
                now_ms if verdict.accepted else "",
                verdict.position_ms,
                rules.idle_ttl_s,
                sid,
                *credit,
            ],
        )
        if moved != -2 or cache is None or token not in cache:
            break
        # Our copy was stale (a beat of this session arrived through another process or
        # the HTTP fallback): read the session again and judge afresh.
        cache.pop(token)
        cached = None
    if moved == -3:
        raise AppError("play_expired", EXPIRED, 409)
    if moved == -1:
        raise AppError("play_replaced", REPLACED, 409)
    if moved != 1:
        raise AppError("stale_beat", STALE, 409)
    if cache is not None:
        cache.clear()  # a socket plays one session at a time
        cache[token] = (
            dataclasses.replace(
                state,
                seq=seq,
                at_ms=now_ms if verdict.accepted else state.at_ms,
                position_ms=verdict.position_ms if verdict.accepted else state.position_ms,
            ),
            coverage,
        )
    covered_before = segments.covered_ms(before)
    if verdict.credit_ms <= 0:
        return BeatResult(credited_s=0.0, note=verdict.note)
    watched = segments.covered_ms(coverage)
    complete = segments.is_complete(watched, state.duration_ms)
    just_completed = complete and not segments.is_complete(covered_before, state.duration_ms)
    return BeatResult(
        credited_s=new_ms / 1000,
        note=verdict.note,
        watched_ms=watched,
        duration_ms=state.duration_ms,
        complete=complete,
        completed_video=state.video_id if just_completed else None,
    )


async def _load(redis, token: str, user_id: int) -> tuple[PlayState, segments.Segments]:
    """Read a play session from Redis, refusing unknown, foreign and replaced ones."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(_play_key(token))
        pipe.get(_active_key(user_id))
        data, active = await pipe.execute()
    if not data or int(data["uid"]) != user_id:
        raise AppError("play_expired", EXPIRED, 409)
    if active != token or data.get("ended"):
        raise AppError("play_replaced", REPLACED, 409)
    state = PlayState(
        user_id=user_id,
        video_id=int(data["vid"]),
        duration_ms=int(data["dur"]),
        seq=int(data["seq"]),
        at_ms=int(data["at"]),
        position_ms=int(data["pos"]),
        until_ms=int(data["until"]),
    )
    return state, json.loads(data.get("segs") or "{}").get("s", [])


async def check_course(result: BeatResult, *, session: AsyncSession, redis, user_id: int) -> None:
    """After a beat that completed a video: whether it completed the course too."""
    if result.completed_video is not None:
        result.course_complete = await _others_complete(
            session, redis, user_id, result.completed_video
        )


async def _others_complete(session: AsyncSession, redis, user_id: int, video_id: int) -> bool:
    """Whether the rest of the course is complete: in the database or, for credits the
    flusher has not written yet, in the live coverage."""
    others = await service.sibling_videos(session=session, user_id=user_id, video_id=video_id)
    pending = [(vid, duration) for vid, duration, done in others if not done]
    if not pending:
        return True
    values = await redis.mget([_coverage_key(user_id, vid) for vid, _ in pending])
    for (_, duration), value in zip(pending, values, strict=True):
        covered = segments.covered_ms(json.loads(value or "{}").get("s", []))
        if not segments.is_complete(covered, duration):
            return False
    return True


async def tell_replaced(svc, started: Started) -> None:
    """The page whose play session this start replaced stops its video (in any process)."""
    if started.replaced and started.replaced[1]:
        await svc.emit(
            "ended",
            {"token": started.replaced[0], "code": "play_replaced", "message": REPLACED},
            to=started.replaced[1],
            namespace=NAMESPACE,
        )


async def stop(*, redis, user_id: int, token: object) -> None:
    """End a play session (the page sends its last beat first)."""
    if isinstance(token, str) and 10 <= len(token) <= 64:
        await _script(redis, STOP_SCRIPT)(
            keys=[_play_key(token), _active_key(user_id)], args=[token, user_id]
        )
