"""The vocabulary of attempts, in one place: their states, how they end, what their history
records, the Chinese label of each, and the predicates every page, report and export asks.

Like edx-proctoring's ``statuses.py``: whatever shows, counts, exports or tests an attempt
imports its words from here, so the learner's 考试记录, the learner record page and PDF,
the invigilation dashboard and the Excel exports say the same thing.
"""

from __future__ import annotations

import enum

from sqlalchemy import and_, or_

from app.lib import devices


class AttemptStatus(enum.StrEnum):
    """An attempt is open (being answered) until it is closed, once, by whoever wins."""

    OPEN = "open"
    CLOSED = "closed"


class EndedBy(enum.StrEnum):
    """How a closed attempt ended. VOIDED may also replace an earlier way: an invigilator
    voids (作废) an attempt in progress or one already handed in."""

    SUBMITTED = "submitted"
    TIME_UP = "time_up"
    FORFEITED = "forfeited"
    INVIGILATOR = "invigilator"
    FOCUS_LOST = "focus_limit"  # left the page as often as the batch allows: submitted
    VOIDED = "voided"


ENDED_LABELS: dict[str, str] = {
    EndedBy.SUBMITTED: "交卷",
    EndedBy.TIME_UP: "时间到自动交卷",
    EndedBy.FORFEITED: "中途离开作废",
    EndedBy.INVIGILATOR: "监考强制交卷",
    EndedBy.FOCUS_LOST: "多次离开页面自动交卷",
    EndedBy.VOIDED: "已作废",
}
# Endings that never pass, whatever the score: the paper is not a valid sitting.
NEVER_PASSES = (EndedBy.FORFEITED, EndedBy.VOIDED)

OPEN_LABEL = "进行中"
VOIDED_LABEL = "已作废"


class EventKind(enum.StrEnum):
    """One entry of an attempt's history (``AttemptEvent.kind``), and the invigilators'
    messages that the dashboard's timeline shows beside them."""

    JOIN = "join"
    RECONNECT = "reconnect"
    RESUME = "resume"
    SECOND_DEVICE = "second_device"
    SECOND_DEVICE_REFUSED = "second_device_refused"
    IP_CHANGED = "ip_changed"
    FOCUS_LOST = "focus_lost"
    FOCUS_WARNED = "focus_warned"
    DISCONNECTED = "disconnected"
    EXTENDED = "extended"
    # A closing writes the way it ended (EndedBy) as its history entry.
    SUBMITTED = EndedBy.SUBMITTED.value
    TIME_UP = EndedBy.TIME_UP.value
    FORFEITED = EndedBy.FORFEITED.value
    INVIGILATOR = EndedBy.INVIGILATOR.value
    FOCUS_LIMIT = EndedBy.FOCUS_LOST.value
    VOIDED = EndedBy.VOIDED.value
    MESSAGE_SENT = "message_sent"
    MESSAGE_READ = "message_read"


EVENT_LABELS: dict[str, str] = {
    EventKind.JOIN: "进入考试",
    EventKind.RECONNECT: "断线后重新连接",
    EventKind.RESUME: "在新窗口继续作答",
    EventKind.SECOND_DEVICE: "在其他窗口或设备上打开（已接管）",
    EventKind.SECOND_DEVICE_REFUSED: "在其他窗口或设备上打开（已拒绝）",
    EventKind.IP_CHANGED: "IP 地址变化",
    EventKind.FOCUS_LOST: "离开考试页面",
    EventKind.FOCUS_WARNED: "离开页面提醒",
    EventKind.DISCONNECTED: "断开连接",
    EventKind.EXTENDED: "延长考试时间",
    EventKind.SUBMITTED: "交卷",
    EventKind.TIME_UP: "时间到自动交卷",
    EventKind.FORFEITED: "中途离开作废",
    EventKind.INVIGILATOR: "监考强制交卷",
    EventKind.FOCUS_LIMIT: "多次离开页面自动交卷",
    EventKind.VOIDED: "监考员作废",
    EventKind.MESSAGE_SENT: "收到监考消息",
    EventKind.MESSAGE_READ: "已读监考消息",
}

# Entries written when a browser tab opens the paper: their detail is the tab's address and
# user agent (``device_detail``), shown as people read them.
DEVICE_KINDS = frozenset(
    {
        EventKind.JOIN,
        EventKind.RECONNECT,
        EventKind.RESUME,
        EventKind.SECOND_DEVICE,
        EventKind.SECOND_DEVICE_REFUSED,
    }
)


def event_label(kind: str) -> str:
    """The Chinese name of a history entry (an unknown kind says so rather than its code)."""
    return EVENT_LABELS.get(kind, "其他记录")


def ended_label(ended_by: str | None) -> str:
    """How a closed attempt ended, in words."""
    return ENDED_LABELS.get(ended_by or "", "")


def device_detail(ip: str, agent: str) -> str:
    """What a join records: the address, then the raw user agent (kept as sent)."""
    return f"{ip} {agent}".strip()


def event_detail(kind: str, detail: str) -> str:
    """An entry's detail as people read it: a user agent becomes "Chrome 156 · Windows 10"."""
    if kind not in DEVICE_KINDS or not detail:
        return detail
    ip, _, agent = detail.partition(" ")
    if not devices.looks_like_address(ip):
        ip, agent = "", detail
    readable = devices.describe(agent) if agent else ""
    return " · ".join(part for part in (ip, readable) if part)


def is_voided(ended_by: str | None) -> bool:
    """Voided by an invigilator: never passes, not counted in any result, shown 已作废."""
    return ended_by == EndedBy.VOIDED


def result_label(*, status: str, ended_by: str | None, passed: bool | None) -> str:
    """What a list of attempts says in its 结果 column."""
    if status == AttemptStatus.OPEN:
        return "—"
    if is_voided(ended_by):
        return VOIDED_LABEL
    return "合格" if passed else "不合格"


def counted(attempt_table) -> object:
    """SQL: the attempts a summary of scores counts (closed, not voided): averages, pass
    rates, best scores, charts, exports and question statistics all filter on this."""
    return and_(
        attempt_table.status == AttemptStatus.CLOSED,
        or_(attempt_table.ended_by.is_(None), attempt_table.ended_by != EndedBy.VOIDED),
    )
