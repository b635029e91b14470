"""Play sessions in Redis: their keys, the Lua scripts that change them atomically, and
reading one back. ``study.py`` judges; this module stores.

``study:play:<token>`` (hash) is one play session; ``study:active:<user_id>`` names the
learner's one active session; ``study:coverage:<user_id>:<video_id>`` is the live watched
coverage (credit the flusher may not have written yet); ``study:attn:<user_id>`` (hash)
carries the attention-check counter from one play session to the next;
``study:challenge:<nonce>`` lets the image route draw an open challenge's code (it goes
the moment the challenge is answered, replaced, or its session ends or is taken over).
"""

from __future__ import annotations

import dataclasses
import json
import weakref

from app.errors import AppError
from app.learning import attention, segments

CREDITS_STREAM = "study:credits"
COVERAGE_TTL_S = 2 * 24 * 3600
REPLACED = "您已在其他页面或设备上开始播放视频，本页面已停止计时"
EXPIRED = "播放会话已失效，请刷新页面后继续学习"


def play_key(token: str) -> str:
    return f"study:play:{token}"


def active_key(user_id: int) -> str:
    return f"study:active:{user_id}"


def coverage_key(user_id: int, video_id: int) -> str:
    return f"study:coverage:{user_id}:{video_id}"


def attn_key(user_id: int) -> str:
    return f"study:attn:{user_id}"


def challenge_key(nonce: str) -> str:
    return f"study:challenge:{nonce}"


# Make `token` the learner's active session; end the one it replaces and return its socket.
# With attention checks on (ARGV[4] = '1'), the learner's counter, due point, wrong answers
# and pause carry over. A replaced session's open challenge is void: its image key goes.
START_SCRIPT = """
local old = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[4] == '1' then
  local names = {'ap', 'ad', 'aw', 'al'}
  local carried = redis.call('HMGET', KEYS[4], unpack(names))
  if carried[1] and carried[2] then
    for i = 1, 4 do
      if carried[i] then redis.call('HSET', KEYS[1], names[i], carried[i]) end
    end
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3], 'EX', 172800)
if old and old ~= ARGV[1] then
  local old_key = 'study:play:' .. old
  if redis.call('EXISTS', old_key) == 1 then
    local cn = redis.call('HGET', old_key, 'cn')
    if cn and cn ~= '' then redis.call('DEL', 'study:challenge:' .. cn) end
    redis.call('HSET', old_key, 'ended', 'replaced', 'cn', '')
    return {old, redis.call('HGET', old_key, 'sid') or ''}
  end
end
return {}
"""

# Apply a judged beat or answer only if the session is still the active one and nobody
# moved it since it was read (compare-and-set on `rev`). In the same step: the session's
# new fields, the live coverage, credits onto the stream, the learner's attention state
# (also in the session) and the image keys of challenges issued (set) or closed (deleted).
# The common beat passes only the fixed arguments, the counter and one credit: the
# attention state costs no extra round trip.
#   KEYS: play, active, coverage, stream, attn, challenge keys...
#   ARGV: token, rev, ttl, seq|'' (an answer), sid, at|'' (not accepted), pos,
#         coverage|'', n, k, m, n session field pairs, k learner field pairs,
#         m credits (user, video, start, end, at), then per challenge key: '-' (delete) or
#         value, ttl (set)
APPLY_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -3 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if (redis.call('HGET', KEYS[1], 'rev') or '0') ~= ARGV[2] then return -2 end
local n, k, m = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
redis.call('HSET', KEYS[1], 'rev', tonumber(ARGV[2]) + 1)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'seq', ARGV[4], 'sid', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'at', ARGV[6], 'pos', ARGV[7]) end
local p = 12
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, p, p + 2 * n - 1)) end
p = p + 2 * n
if k > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, p, p + 2 * k - 1))
  redis.call('HSET', KEYS[5], unpack(ARGV, p, p + 2 * k - 1))
  redis.call('EXPIRE', KEYS[5], 172800)
end
p = p + 2 * k
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'segs', ARGV[8])
  redis.call('SET', KEYS[3], ARGV[8], 'EX', 172800)
end
for i = p, p + 5 * m - 1, 5 do
  redis.call('XADD', KEYS[4], '*', 'u', ARGV[i], 'v', ARGV[i + 1], 's', ARGV[i + 2],
    'e', ARGV[i + 3], 'at', ARGV[i + 4])
end
p = p + 5 * m
for j = 6, #KEYS do
  if ARGV[p] == '-' then
    redis.call('DEL', KEYS[j])
    p = p + 1
  else
    redis.call('SET', KEYS[j], ARGV[p], 'EX', ARGV[p + 1])
    p = p + 2
  end
end
return 1
"""

# End a session; its open challenge's image key goes with it.
STOP_SCRIPT = """
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[2] then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
local cn = redis.call('HGET', KEYS[1], 'cn')
if cn and cn ~= '' then redis.call('DEL', 'study:challenge:' .. cn) end
return redis.call('DEL', KEYS[1])
"""

# A learner excused from attention checks: their carried state goes, and their active
# session stops asking at once (its open challenge, held credit and pause go; `rev` moves
# so that a socket's cached copy is read again).  ARGV: the session's field pairs to set.
EXEMPT_SCRIPT = """
redis.call('DEL', KEYS[2])
local token = redis.call('GET', KEYS[1])
if not token then return 0 end
local play = 'study:play:' .. token
if redis.call('EXISTS', play) == 0 then return 0 end
local cn = redis.call('HGET', play, 'cn')
if cn and cn ~= '' then redis.call('DEL', 'study:challenge:' .. cn) end
redis.call('HSET', play, unpack(ARGV))
redis.call('HINCRBY', play, 'rev', 1)
return 1
"""

_SCRIPTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def script(redis, source: str):
    """The script bound to this Redis client (sent once, then called by its SHA1)."""
    scripts = _SCRIPTS.setdefault(redis, {})
    if source not in scripts:
        scripts[source] = redis.register_script(source)
    return scripts[source]


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
    # Compare-and-set version: every beat and answer moves it on.
    rev: int = 0
    # Attention checks: accepted play since the last passed check, the due point (0: off),
    # the batch's interval (ms), the open challenge and the credit held back until it is
    # answered (segments, and the server time of the beat that earned the last of them).
    played_ms: int = 0
    due_ms: int = 0
    interval_ms: tuple[int, int] = (0, 0)
    challenge: attention.Challenge | None = None
    held: tuple[tuple[int, int], ...] = ()
    held_at_ms: int = 0
    # Wrong answers to the open check, and the end of a pause after too many (0: none).
    wrong: int = 0
    locked_until_ms: int = 0

    @property
    def lock(self) -> attention.Lock | None:
        return attention.Lock(self.locked_until_ms) if self.locked_until_ms else None


def live(coverage: segments.Segments, position_ms: int) -> str:
    """The live coverage as stored in Redis: segments and the last credited position."""
    return json.dumps({"s": coverage, "p": position_ms}, separators=(",", ":"))


async def load(redis, token: str, user_id: int) -> tuple[PlayState, segments.Segments]:
    """Read a play session from Redis, refusing unknown, foreign and replaced ones."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(play_key(token))
        pipe.get(active_key(user_id))
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
        rev=int(data.get("rev") or 0),
        played_ms=int(data.get("ap") or 0),
        due_ms=int(data.get("ad") or 0),
        interval_ms=(int(data.get("amin") or 0), int(data.get("amax") or 0)),
        challenge=attention.Challenge.from_fields(data),
        held=tuple(tuple(s) for s in segments.parse(data.get("held"))),
        held_at_ms=int(data.get("hat") or 0),
        wrong=int(data.get("aw") or 0),
        locked_until_ms=int(data.get("al") or 0),
    )
    return state, json.loads(data.get("segs") or "{}").get("s", [])


@dataclasses.dataclass
class Change:
    """What one judged beat or answer writes, atomically, if the session has not moved."""

    seq: int | None = None  # a beat's seq (with its socket id); None for an answer
    sid: str = ""
    moved_to: tuple[int, int] | None = None  # an accepted beat: (server time, position)
    fields: dict[str, object] = dataclasses.field(default_factory=dict)  # attention state
    # The learner's attention state (attention.LEARNER_FIELDS), written to the session and
    # to study:attn so that the next session carries it over.
    learner: dict[str, object] = dataclasses.field(default_factory=dict)
    coverage: str = ""  # the new live coverage, or "" to keep it
    credits: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    credit_at_ms: int = 0
    challenge: attention.Challenge | None = None  # issued: its code goes to the image route
    closed: str = ""  # the nonce of a challenge answered or replaced: its image key goes


async def apply(redis, *, token: str, state: PlayState, change: Change, ttl_s: int) -> int:
    """Write a change: 1, or -1 (replaced), -2 (moved meanwhile), -3 (expired)."""
    keys = [
        play_key(token),
        active_key(state.user_id),
        coverage_key(state.user_id, state.video_id),
        CREDITS_STREAM,
        attn_key(state.user_id),
    ]
    at, position = change.moved_to or ("", 0)
    args = [
        token,
        state.rev,
        ttl_s,
        "" if change.seq is None else change.seq,
        change.sid,
        at,
        position,
        change.coverage,
        len(change.fields),
        len(change.learner),
        len(change.credits),
    ]
    for item in (*change.fields.items(), *change.learner.items()):
        args.extend(item)
    for start, end in change.credits:
        args.extend((state.user_id, state.video_id, start, end, change.credit_at_ms))
    if change.closed:
        keys.append(challenge_key(change.closed))
        args.append("-")
    if change.challenge is not None:
        issued = change.challenge
        keys.append(challenge_key(issued.nonce))
        ttl = (issued.deadline_ms - issued.issued_ms) // 1000 + 60
        args.extend((issued.image_value(state.user_id), ttl))
    return await script(redis, APPLY_SCRIPT)(keys=keys, args=args)


async def challenge_image(redis, *, nonce: str, user_id: int) -> tuple[str, int] | None:
    """The code and image seed of an open challenge of this learner (None: answered,
    replaced, expired, or another learner's)."""
    value = await redis.get(challenge_key(nonce))
    if value is None:
        return None
    owner, code, seed = (value.split(":") + ["", ""])[:3]
    return (code, int(seed or 0)) if owner == str(user_id) else None


async def exempt(redis, *, user_id: int) -> None:
    """The learner's attention state goes and their active session stops asking."""
    off = {**attention.CLEARED, **dict.fromkeys(attention.LEARNER_FIELDS, 0)}
    await script(redis, EXEMPT_SCRIPT)(
        keys=[active_key(user_id), attn_key(user_id)],
        args=[x for pair in off.items() for x in pair],
    )
