"""What the exam area tells once a unit of work committed, and who it tells.

``AttemptClosed`` (recorded by every close: submit, time up, forfeit, invigilator, focus
rule, void of an open attempt): the attempt's page gets ``submitted`` with its result.
``DeadlineMoved`` (extra time): the page gets ``deadline`` and its countdown moves at once.
Both reach the page from any process through ``svc.emit``. ``AttemptVoided`` says an
invigilator voided an attempt (open or already closed); ``AttemptActivity`` that something
an invigilator sees on the attempt's row changed (a join, a focus loss, a disconnect...).
Other areas handle these too: certificates queue the passed attempts' certificates and
revoke the voided ones'; invigilation refreshes the rows of the session's dashboard.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from app import events
from app.clock import epoch_ms
from app.exams import live

if TYPE_CHECKING:
    from app.exams.grading import Result


@dataclasses.dataclass(frozen=True)
class AttemptClosed:
    result: Result


@dataclasses.dataclass(frozen=True)
class DeadlineMoved:
    attempt_id: int
    deadline: dt.datetime
    session_id: int | None = None
    user_id: int = 0
    added_seconds: int = 0


@dataclasses.dataclass(frozen=True)
class AttemptVoided:
    attempt_id: int
    user_id: int
    session_id: int | None
    reason: str
    actor_id: int | None
    was_open: bool


@dataclasses.dataclass(frozen=True)
class AttemptActivity:
    """Something shown on the attempt's row of its session's dashboard changed."""

    session_id: int
    user_id: int
    attempt_id: int


@events.handles(AttemptClosed)
async def tell_closed(svc, closed: list[AttemptClosed]) -> None:
    """Each closed attempt's page shows its result."""
    await live.forget_deadlines(svc.redis, [c.result.attempt_id for c in closed])
    for c in closed:
        await svc.emit(
            "submitted",
            c.result.to_dict(),
            room=live.room(c.result.attempt_id),
            namespace=live.NAMESPACE,
        )


@events.handles(DeadlineMoved)
async def tell_deadline(svc, moved: list[DeadlineMoved]) -> None:
    """Each extended attempt's countdown moves to its new deadline."""
    now = svc.now()
    for m in moved:
        await live.remember_deadline(svc.redis, m.attempt_id, m.deadline, now)
        await svc.emit(
            "deadline",
            {
                "deadline": epoch_ms(m.deadline),
                "now": epoch_ms(now),
                "added_seconds": m.added_seconds,
            },
            room=live.room(m.attempt_id),
            namespace=live.NAMESPACE,
        )
