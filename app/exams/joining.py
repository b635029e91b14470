"""A browser tab opens an attempt: resume, reconnect, take over, refuse or forfeit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import AppError
from app.exams import paper as papers
from app.exams.attempts import get_attempt, record_event, tell_changed
from app.exams.grading import Result, close_attempts
from app.exams.models import Attempt
from app.exams.statuses import EndedBy, EventKind

SECOND_DEVICE_ERROR = AppError(
    "second_device",
    "本场考试已在其他窗口或设备上进行，不能同时在两处作答。如原窗口已关闭，请稍候 1 分钟再试。",
    409,
)


class JoinKind(enum.StrEnum):
    """How a tab's join went."""

    FIRST = "first"  # the first tab to open the paper
    RECONNECT = "reconnect"  # the same tab again (a network blip, a reload)
    RESUME = "resume"  # another tab after the holder went away (batch rule: resume)
    TAKEOVER = "takeover"  # another tab while the holder is connected (rule: take over)
    REFUSED = "refused"  # another tab while the holder is connected (rule: refuse)
    FORFEITED = "forfeited"  # another tab after the holder went away (rule: forfeit)
    CLOSED = "closed"  # the attempt had already ended (or its time was up)


# What each kind writes into the attempt's history (what invigilators see).
_HISTORY = {
    JoinKind.FIRST: EventKind.JOIN,
    JoinKind.RECONNECT: EventKind.RECONNECT,
    JoinKind.RESUME: EventKind.RESUME,
    JoinKind.TAKEOVER: EventKind.SECOND_DEVICE,
}


@dataclasses.dataclass
class JoinOutcome:
    """What happened when a browser tab opened the exam: resumed, took over, or ended."""

    attempt: Attempt
    kind: JoinKind
    previous_tab: str = ""

    @property
    def ended_attempt(self) -> bool:
        """The tab gets the result, not the paper."""
        return self.kind in (JoinKind.CLOSED, JoinKind.FORFEITED)


async def join(
    *,
    session: AsyncSession,
    attempt_id: int,
    user_id: int,
    tab: str,
    other_tab_connected: bool,
    now: dt.datetime,
    detail: str = "",
    ip: str = "",
) -> JoinOutcome:
    """A browser tab opens (or reconnects to) an attempt; applies the batch's rules."""
    attempt = await get_attempt(session=session, attempt_id=attempt_id, user_id=user_id)
    if attempt.is_open and not attempt.is_running(now):
        await close_attempts(session=session, now=now, ids=[attempt.id], ended_by=EndedBy.TIME_UP)
    if not attempt.is_open:
        return JoinOutcome(attempt, JoinKind.CLOSED)
    rules = papers.Rules.from_json(attempt.rules)
    previous = attempt.tab
    if not previous:
        kind = JoinKind.FIRST
    elif previous == tab:
        kind = JoinKind.RECONNECT
    elif other_tab_connected:
        if rules.second_device == "refuse":
            attempt.second_devices += 1
            tell_changed(session, attempt)
            await record_event(
                session=session,
                attempt_id=attempt.id,
                kind=EventKind.SECOND_DEVICE_REFUSED,
                now=now,
                detail=detail,
            )
            # Returned, not raised: the caller commits the record, then refuses the tab.
            return JoinOutcome(attempt, JoinKind.REFUSED, previous)
        kind = JoinKind.TAKEOVER
    elif rules.disconnect_policy == "forfeit":
        await close_attempts(session=session, now=now, ids=[attempt.id], ended_by=EndedBy.FORFEITED)
        return JoinOutcome(attempt, JoinKind.FORFEITED, previous)
    else:
        kind = JoinKind.RESUME
    attempt.tab = tab
    if kind == JoinKind.TAKEOVER:
        attempt.second_devices += 1
    elif kind in (JoinKind.RECONNECT, JoinKind.RESUME):
        attempt.reconnects += 1
    history = _HISTORY[kind]
    await record_event(session=session, attempt_id=attempt.id, kind=history, now=now, detail=detail)
    if ip and attempt.last_ip and ip != attempt.last_ip:
        attempt.ip_changes += 1
        await record_event(
            session=session,
            attempt_id=attempt.id,
            kind=EventKind.IP_CHANGED,
            now=now,
            detail=f"{attempt.last_ip} → {ip}",
        )
    if ip:
        attempt.last_ip = ip[:64]
    tell_changed(session, attempt)
    await session.flush()
    return JoinOutcome(attempt, kind, previous)


@dataclasses.dataclass
class FocusOutcome:
    """A focus loss counted: how many so far, a warning to show, or the result when the
    batch's rule submitted the paper."""

    count: int
    warning: str = ""
    result: Result | None = None


def focus_warning(count: int, rules: papers.Rules) -> str:
    """What the learner is told once they have left the page ``count`` times."""
    text = f"您已第 {count} 次离开考试页面，每次离开都会被记录并告知监考员。"
    if rules.focus_submit_at:
        left = rules.focus_submit_at - count
        text += (
            f"累计离开 {rules.focus_submit_at} 次系统将自动交卷，您还可离开 {left - 1} 次。"
            if left > 1
            else ("再离开一次，系统将自动交卷。")
        )
    return text


async def record_focus_loss(
    *, session: AsyncSession, attempt_id: int, user_id: int, now: dt.datetime, detail: str
) -> FocusOutcome:
    """The page reports that the learner left the exam tab or window; the batch's rule
    may warn them, or submit the paper (with every acknowledged answer)."""
    attempt = await get_attempt(session=session, attempt_id=attempt_id, user_id=user_id)
    if not attempt.is_running(now):
        return FocusOutcome(attempt.focus_losses)
    attempt.focus_losses += 1
    count = attempt.focus_losses
    await record_event(
        session=session, attempt_id=attempt_id, kind=EventKind.FOCUS_LOST, now=now, detail=detail
    )
    tell_changed(session, attempt)
    rules = papers.rules_from_json(attempt.rules)
    if rules.focus_submit_at and count >= rules.focus_submit_at:
        await session.flush()
        closed = await close_attempts(
            session=session, now=now, ids=[attempt.id], ended_by=EndedBy.FOCUS_LOST
        )
        return FocusOutcome(count, result=closed[0] if closed else None)
    if rules.focus_warn_at and count >= rules.focus_warn_at:
        warning = focus_warning(count, rules)
        await record_event(
            session=session,
            attempt_id=attempt_id,
            kind=EventKind.FOCUS_WARNED,
            now=now,
            detail=warning,
        )
        return FocusOutcome(count, warning=warning)
    return FocusOutcome(count)


async def record_disconnect(
    *, session: AsyncSession, attempt_id: int, user_id: int, now: dt.datetime
) -> bool:
    """The tab holding an open attempt went away (closed, network lost); False if ended."""
    attempt = await get_attempt(session=session, attempt_id=attempt_id, user_id=user_id)
    if not attempt.is_open:
        return False
    await record_event(session=session, attempt_id=attempt_id, kind=EventKind.DISCONNECTED, now=now)
    tell_changed(session, attempt)
    return True
