"""Opening and ending play sessions: ``start`` checks that the learner may play the video
now, makes the new session the learner's only active one (ending the one in another tab or
on another device, whose page ``tell_replaced`` tells) and carries the learner's
attention-check state into it; ``study.stop`` ends one. Beats are judged in ``study.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets

from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import epoch_ms
from app.errors import AppError
from app.learning import attention, plays, segments, service
from app.learning.plays import REPLACED
from app.learning.study import NAMESPACE, StudyRules
from app.lib.http import is_id


async def _live(redis, user_id: int, video_id: int) -> dict:
    """What Redis knows of a learner's video ahead of the database: ``s`` the credited
    segments, ``p`` where the most recent credit ended."""
    return json.loads(await redis.get(plays.coverage_key(user_id, video_id)) or "{}")


def _resume(live: dict, stored_ms: int, duration_ms: int) -> int:
    if "p" not in live:
        return stored_ms
    return 0 if live["p"] >= duration_ms - 1000 else live["p"]


async def resume_ms(redis, *, user_id: int, video_id: int, stored_ms: int, duration_ms: int) -> int:
    """Where the video page starts playing: where the most recent credit ended, which Redis
    knows a flusher cycle before the database does. From the database alone, a page opened
    meanwhile (a second tab, a reload) started where an earlier credit had ended, and its
    beats then moved the learner's place back."""
    return _resume(await _live(redis, user_id, video_id), stored_ms, duration_ms)


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
    if isinstance(video_id, str) and video_id.isdigit() and len(video_id) <= 10:
        video_id = int(video_id)
    if not is_id(video_id):
        raise AppError("bad_request", "请求格式不正确：视频编号无效")
    target = await service.play_target(session=session, user_id=user_id, video_id=video_id, now=now)
    # The live coverage may hold credits the flusher has not written yet: keep both, and
    # resume where the most recent credit ended.
    live = await _live(redis, user_id, video_id)
    coverage = _union(target.segments, json.dumps(live.get("s", [])))
    resume = _resume(live, target.resume_ms, target.duration_ms)
    live_value = plays.live(coverage, resume)
    token = secrets.token_urlsafe(18)
    checks = attention.Settings(
        enabled=target.attention_checks,
        min_minutes=target.attention_min_minutes,
        max_minutes=target.attention_max_minutes,
    )
    low, high = checks.bounds_ms
    fields = {
        "uid": user_id,
        "vid": video_id,
        "dur": target.duration_ms,
        "seq": 0,
        "rev": 0,
        "at": epoch_ms(now),
        "pos": resume,
        "until": epoch_ms(target.until),
        "sid": sid,
        "segs": live_value,
        # The learner's counter and due point replace these when they carry over.
        "ap": 0,
        "ad": attention.draw_due_ms(low, high) if checks.enabled else 0,
        "amin": low,
        "amax": high,
    }
    flat = [x for pair in fields.items() for x in pair]
    result = await plays.script(redis, plays.START_SCRIPT)(
        keys=[
            plays.play_key(token),
            plays.active_key(user_id),
            plays.coverage_key(user_id, video_id),
            plays.attn_key(user_id),
        ],
        args=[token, rules.idle_ttl_s, live_value, "1" if checks.enabled else "0", *flat],
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


async def tell_replaced(svc, started: Started) -> None:
    """The page whose play session this start replaced stops its video (in any process)."""
    if started.replaced and started.replaced[1]:
        await svc.emit(
            "ended",
            {"token": started.replaced[0], "code": "play_replaced", "message": REPLACED},
            to=started.replaced[1],
            namespace=NAMESPACE,
        )


async def start_reply(
    svc, *, rules: StudyRules, user_id: int, video_id: object, sid: str = ""
) -> dict[str, object]:
    """Open a play session and tell the page it replaced: the socket event ``start`` (with
    its socket id) and its HTTP fallback alike."""
    async with svc.db.read() as session:
        started = await start(
            session=session,
            redis=svc.redis,
            rules=rules,
            user_id=user_id,
            video_id=video_id,
            now=svc.now(),
            sid=sid,
        )
    await tell_replaced(svc, started)
    return started.reply()
