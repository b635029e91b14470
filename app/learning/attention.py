"""Attention checks (防挂机): the server, at a moment it chooses, asks the person at the
player to read a short code drawn as an image; until it is answered, play earns nothing.

The rules (docs/realtime.md, "Attention checks"), judged here without any I/O:

- A learner has a counter of accepted play since their last passed check and a due
  point drawn at random in the batch's min..max minutes. The counter lives in Redis per
  learner (``study:attn:<user_id>``) as well as in the play session, so reloading the page
  or opening a new play session does not reset it.
- The beat that carries the counter past the due point is credited as usual and answered
  with a challenge (a nonce, a deadline ``answer_s`` ahead and a code drawn as an image).
  A beat that finds a check already owed (a new session after an unanswered challenge)
  is answered with a challenge and its own credit is held.
- While a challenge is open, credit is held back (pending), not written anywhere.
- A correct answer before the deadline, from the session the challenge was issued to,
  releases the held credit, resets the counter and draws the next due point. A wrong
  answer, or a beat after the deadline, drops the held credit and issues a new challenge.
- A learner has ``ATTEMPTS`` answers per check: the code is redrawn after each wrong one,
  and the last wrong one closes the check and starts a pause (``PAUSE_S``) in which play
  earns nothing and no answer is judged; the first beat after the pause brings the next
  check. The count and the pause are the learner's (``aw``/``al`` in ``study:attn``), so
  other tabs, sessions, transports and server processes share them.
- The image is drawn from a seed drawn with the challenge and kept with its code on the
  server, never from anything the page knows: a script cannot redraw it to find the code.
"""

from __future__ import annotations

import dataclasses
import random
import secrets

from app.accounts.captcha import ALPHABET, draw
from app.learning import segments

CODE_LENGTH = 4
# Answers per check (the code is redrawn after each wrong one), then a pause without
# credit before the next check: a blind guesser gets ATTEMPTS tries per PAUSE_S + a bit.
ATTEMPTS = 3
PAUSE_S = 300
IMAGE_PATH = "/api/study/attention/{nonce}.png"

NOTES = {
    "attention_pending": "请先完成防挂机验证：验证通过后，验证出现以来的学习时长才会计入",
    "attention_missed": "未在规定时间内完成防挂机验证，验证出现以来的学习时长不计入，请输入新的验证码",
    "attention_wrong": "验证码错误，验证出现以来的学习时长不计入，请输入新的验证码",
    "attention_locked": "验证码连续输入错误，暂停计时：暂停期间的学习时长不计入，暂停结束后请重新验证",
}
ASK = "为确认您正在学习，请在 {seconds} 秒内输入图中的字符。验证通过前，学习时长暂不计入。"
PASSED = "验证通过，学习时长已计入，请继续学习"
EXPIRED = "验证已超时，验证出现以来的学习时长不计入。请点击“重新验证”获取新的验证码"
UNKNOWN = "该验证不属于本次播放或已失效，请刷新页面后继续学习"
TOO_LONG = "验证码过长，请只输入图中的 4 个字符"
WRONG_LEFT = "验证码错误，验证出现以来的学习时长不计入。请输入新的验证码（还可输入 {left} 次）"
LOCKED = (
    "验证码连续 {attempts} 次输入错误，暂停计时 {minutes} 分钟：暂停期间的学习时长不计入，"
    "{wait}后可重新验证"
)


def wait_text(seconds: float) -> str:
    """How long until the pause ends, as a person reads it (约 4 分 30 秒)."""
    seconds = max(1, round(seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest} 秒"
    return f"{minutes} 分 {rest} 秒" if rest else f"{minutes} 分钟"


@dataclasses.dataclass(frozen=True)
class Lock:
    """A pause after the learner's last wrong answer: no credit, no answer until ``until_ms``."""

    until_ms: int

    def message(self, now_ms: int) -> str:
        return LOCKED.format(
            attempts=ATTEMPTS,
            minutes=PAUSE_S // 60,
            wait=wait_text((self.until_ms - now_ms) / 1000),
        )

    def reply(self, now_ms: int) -> dict[str, object]:
        """What the page gets: when the pause ends, on the server's clock."""
        return {
            "until": self.until_ms,
            "now": now_ms,
            "seconds": max(0, self.until_ms - now_ms) / 1000,
            "message": self.message(now_ms),
        }


@dataclasses.dataclass(frozen=True)
class Settings:
    """A batch's attention-check settings: on or off, and the interval in minutes."""

    enabled: bool
    min_minutes: int
    max_minutes: int

    @property
    def bounds_ms(self) -> tuple[int, int]:
        """The interval in ms (at least one minute; max never below min)."""
        low = max(1, self.min_minutes) * 60_000
        return low, max(low, self.max_minutes * 60_000)


def draw_due_ms(low_ms: int, high_ms: int) -> int:
    """A random moment in low..high ms of play, chosen by the server."""
    low = max(60_000, low_ms)
    return low + secrets.randbelow(max(low, high_ms) - low + 1)


@dataclasses.dataclass(frozen=True)
class Challenge:
    """One open check of a play session (times in server ms)."""

    nonce: str
    code: str
    issued_ms: int
    deadline_ms: int
    # Draws the image (lines, dots, colours, angles, offsets): fresh randomness kept on the
    # server with the code. The nonce is public; an image drawn from it could be redrawn
    # for every candidate code by a script and compared.
    seed: int = 0

    @classmethod
    def new(cls, now_ms: int, answer_s: float) -> Challenge:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        return cls(
            nonce=secrets.token_urlsafe(12),
            code=code,
            issued_ms=now_ms,
            deadline_ms=now_ms + int(answer_s * 1000),
            seed=secrets.randbits(64),
        )

    def fields(self) -> dict[str, object]:
        """The play-session hash fields that hold it."""
        return {
            "cn": self.nonce,
            "cc": self.code,
            "ci": self.issued_ms,
            "cx": self.deadline_ms,
            "cs": self.seed,
        }

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> Challenge | None:
        if not data.get("cn"):
            return None
        seed = int(data.get("cs") or 0)
        return cls(data["cn"], data["cc"], int(data["ci"]), int(data["cx"]), seed)

    def image_value(self, user_id: int) -> str:
        """What the image route reads (``study:challenge:<nonce>``): owner, code, seed."""
        return f"{user_id}:{self.code}:{self.seed}"

    def reply(self, now_ms: int) -> dict[str, object]:
        """What the page gets: never the code, only where to fetch its image."""
        left = max(0, self.deadline_ms - now_ms)
        seconds = round((self.deadline_ms - self.issued_ms) / 1000)
        return {
            "nonce": self.nonce,
            "image": IMAGE_PATH.format(nonce=self.nonce),
            "deadline": self.deadline_ms,
            "now": now_ms,
            "expires_in_s": left / 1000,
            "message": ASK.format(seconds=seconds),
        }


CLEARED = {"cn": "", "cc": "", "ci": 0, "cx": 0, "cs": 0, "held": "[]", "hat": 0}
# The learner's attention state that follows them from session to session (study:attn):
# play since the last passed check, the due point, wrong answers to the open check and the
# end of a pause (server ms).
LEARNER_FIELDS = ("ap", "ad", "aw", "al")


@dataclasses.dataclass(frozen=True)
class Step:
    """What attention makes of one accepted beat."""

    credit: str  # the beat's segment is credited "now", "held" with the check or "dropped"
    issue: bool  # a new challenge is issued with this beat
    missed: bool  # an expired challenge's held credit is dropped
    played_ms: int  # the counter after this beat
    locked: bool = False  # within a pause after wrong answers: nothing is earned
    unlocked: bool = False  # the pause is over: its count and end are cleared


def step(
    *,
    due_ms: int,
    played_ms: int,
    challenge: Challenge | None,
    credit_ms: int,
    now_ms: int,
    locked_until_ms: int = 0,
) -> Step:
    """Judge one accepted beat against the learner's counter, pause and open challenge."""
    if due_ms <= 0:
        return Step(credit="now", issue=False, missed=False, played_ms=played_ms)
    played = played_ms + credit_ms
    if locked_until_ms:
        if now_ms < locked_until_ms:
            return Step(credit="dropped", issue=False, missed=False, played_ms=played, locked=True)
        # The pause is over and the check it closed is still owed. This beat's play ran
        # (partly) through the pause: it is not held with the new check.
        return Step(credit="dropped", issue=True, missed=False, played_ms=played, unlocked=True)
    if challenge is not None:
        if now_ms <= challenge.deadline_ms:
            return Step(credit="held", issue=False, missed=False, played_ms=played)
        return Step(credit="held", issue=True, missed=True, played_ms=played)
    if played_ms >= due_ms:  # a check is owed (e.g. unanswered in an earlier session)
        return Step(credit="held", issue=True, missed=False, played_ms=played)
    return Step(credit="now", issue=played >= due_ms, missed=False, played_ms=played)


def hold(held: segments.Segments, start_ms: int, end_ms: int) -> segments.Segments:
    """Add a segment to the credit held back until the challenge is answered."""
    merged, _ = segments.add(held, start_ms, end_ms)
    return merged


def is_right(challenge: Challenge, answer: str) -> bool:
    """Whether the typed characters match (case and spaces do not matter)."""
    typed = "".join(answer.split()).upper()
    return secrets.compare_digest(typed.encode(), challenge.code.encode())


def judge_wrong(wrong: int, now_ms: int) -> tuple[int, Lock | None]:
    """After a wrong answer: the learner's count of wrong answers to this check, and the
    pause that starts when it reaches ``ATTEMPTS`` (the count then starts again)."""
    wrong += 1
    if wrong >= ATTEMPTS:
        return 0, Lock(until_ms=now_ms + PAUSE_S * 1000)
    return wrong, None


def image(code: str, seed: int) -> bytes:
    """The code drawn as the captcha is (PNG); a challenge's seed always draws the same."""
    return draw(code, random.Random(seed))
