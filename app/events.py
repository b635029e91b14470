"""What happened in a unit of work, told once it has committed.

A service records an event on the session its caller gave it (``record``). When that
unit of work commits, ``Database.write`` hands its events to ``dispatch``, which calls the
handlers registered for each event type with every event of that type at once (a sweep
that closes 3,000 papers tells their pages in one call). Handlers push to pages through
``svc.emit`` and queue jobs; they never run after a rollback. Each area declares its events
and handlers in its own ``events`` module, loaded by ``app.load_areas``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import EVENTS

log = logging.getLogger("safece.events")

Handler = Callable[[Any, list[Any]], Awaitable[None]]
_handlers: defaultdict[type, list[Handler]] = defaultdict(list)


def handles(*event_types: type) -> Callable[[Handler], Handler]:
    """Register ``handler(svc, events)`` for the given event types."""

    def register(handler: Handler) -> Handler:
        for event_type in event_types:
            if handler not in _handlers[event_type]:
                _handlers[event_type].append(handler)
        return handler

    return register


def record(session: AsyncSession, event: object) -> None:
    """Note that something happened in this unit of work; told after its commit."""
    session.info.setdefault(EVENTS, []).append(event)


def recorded(session: AsyncSession) -> list[object]:
    """The events recorded on this session so far (what its commit will tell)."""
    return list(session.info.get(EVENTS, []))


async def dispatch(svc: object, events: list[object]) -> None:
    """Call each event type's handlers with that type's events, in the order recorded."""
    by_type: dict[type, list[object]] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    for event_type, batch in by_type.items():
        for handler in _handlers.get(event_type, ()):
            try:
                await handler(svc, batch)
            except Exception:
                log.exception("handler %s of %s failed", handler.__qualname__, event_type.__name__)
