"""Taking turns at one resource, with a lane that goes first.

SQLite has one write lock. A process's writers take turns on it in arrival order, except
the autosave group commit: a learner waits for its acknowledgement, and one group commit
of a hundred answers takes a millisecond or two, while a burst of joins and disconnects
(learners reconnecting after a network blip) or a grading sweep may queue up several
ordinary writers. So a waiting group commit goes before every waiting ordinary writer; it
still waits for the writer that holds the turn (a few milliseconds: app/lib/sqlite_writes.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator


class Turns:
    """One holder at a time; urgent waiters first, then the others, each in arrival order."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: collections.deque[asyncio.Future] = collections.deque()
        self._ordinary: collections.deque[asyncio.Future] = collections.deque()

    @property
    def held(self) -> bool:
        return self._held

    @contextlib.asynccontextmanager
    async def turn(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._ordinary:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        lane = self._urgent if urgent else self._ordinary
        lane.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed the turn just as it was cancelled: pass it on
            else:
                lane.remove(waiter)
            raise

    def _release(self) -> None:
        """Hand the turn to the next waiter (urgent first), or free it."""
        for lane in (self._urgent, self._ordinary):
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False
