"""Input checks for exam requests and Socket.IO payloads, with Chinese refusals."""

from __future__ import annotations

import dataclasses
import re

from app.errors import AppError
from app.lib.devices import COMPUTER_ONLY, is_mobile
from app.lib.http import int_field

TAB_ID = re.compile(r"^[A-Za-z0-9_-]{8,40}$")


def require_computer(user_agent: str | None) -> None:
    """Refuse phones and tablets: the exam is computer-only."""
    if is_mobile(user_agent):
        raise AppError("computer_only", COMPUTER_ONLY, 403)


def _payload(data: object) -> dict:
    if not isinstance(data, dict):
        raise AppError("bad_request", "请求格式不正确")
    return data


@dataclasses.dataclass(frozen=True)
class JoinIn:
    attempt_id: int
    tab: str

    @classmethod
    def parse(cls, data: object) -> JoinIn:
        data = _payload(data)
        attempt_id = int_field(data, "attempt_id", "考试编号不正确")
        tab = data.get("tab")
        if not isinstance(tab, str) or not TAB_ID.match(tab):
            raise AppError("bad_request", "页面标识不正确，请刷新页面")
        return cls(attempt_id, tab)


@dataclasses.dataclass(frozen=True)
class AnswerIn:
    question_id: int
    value: object  # checked against the question by paper.normalise
    seq: int

    @classmethod
    def parse(cls, data: object) -> AnswerIn:
        data = _payload(data)
        question_id = int_field(data, "question_id", "题目编号不正确")
        seq = int_field(data, "seq", "答案序号不正确", low=0)
        if "value" not in data:
            raise AppError("bad_value", "答案格式不正确")
        return cls(question_id, data["value"], seq)


FOCUS_STATES = {"hidden": "切换到其他标签页或最小化窗口", "blur": "离开考试窗口"}


def parse_focus(data: object) -> str:
    """The kind of focus loss the page reports."""
    state = _payload(data).get("state")
    if state not in FOCUS_STATES:
        raise AppError("bad_request", "请求格式不正确")
    return state


def parse_message_read(data: object) -> int:
    """The id of the message whose banner the learner dismissed."""
    return int_field(_payload(data), "message_id", "消息编号不正确")
