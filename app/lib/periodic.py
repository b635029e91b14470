"""A process's heartbeat: a coroutine run at once and then every few seconds while started,
and a last one when stopped (exam presence, the liveness listed by /healthz)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("safece.periodic")


class Periodic:
    """Runs ``beat()`` on start and every ``every`` seconds, ``end()`` once on stop. A failed
    beat is logged and the next one tries again (Redis restarting)."""

    def __init__(
        self,
        beat: Callable[[], Awaitable[object]],
        end: Callable[[], Awaitable[object]],
        every: float,
        what: str,
    ) -> None:
        self._beat, self._end, self.every, self.what = beat, end, every, what
        self._task: asyncio.Task | None = None

    async def beat(self) -> None:
        """One beat now (the timer's own beats go on)."""
        await self._beat()

    async def start(self) -> None:
        if self._task is None:
            await self._beat()
            self._task = asyncio.get_running_loop().create_task(self._beating())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await self._end()

    async def _beating(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis restarting: the next beat restores it
                log.warning("%s failed (%s)", self.what, error)
