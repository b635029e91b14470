"""Measurement points shared by whoever listens: /metrics always, and the per-second
profile of issue 22 (``SAFECE_PROFILE``) when it runs.

The code on the paths that matter reports what it measured with ``observe(point, value)``;
that costs a function call and a loop over the listeners (``listen``), nothing more.
``app/lib/metrics.py`` turns points into Prometheus histograms.

Points (milliseconds unless noted):

- ``loop.lag``: how late a timer of the event loop fired (``LoopLag``);
- ``commit.wait``: an autosave group commit waiting for the write turn; ``commit.hold``:
  the commit itself (its SQL, BEGIN to COMMIT); ``commit.size``: saves in it (a count);
- ``answer``: an ``answer`` event from its handler's start to its acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

Sink = Callable[[str, float], None]
_sinks: list[Sink] = []


def observe(point: str, value: float) -> None:
    """Report one measurement at a named point (see the module docstring)."""
    for sink in _sinks:
        sink(point, value)


def listening() -> bool:
    """Whether anything listens: code may skip measuring what nobody would hear."""
    return bool(_sinks)


def listen(sink: Sink) -> Callable[[], None]:
    """Hear every measurement from now on; returns the call that stops it."""
    _sinks.append(sink)
    return lambda: _sinks.remove(sink) if sink in _sinks else None


@contextlib.contextmanager
def timed(point: str):
    """Observe how long the block took, in milliseconds."""
    began = time.perf_counter()
    try:
        yield
    finally:
        observe(point, (time.perf_counter() - began) * 1000)


class LoopLag:
    """Observes ``loop.lag``: a timer set for every ``every`` seconds, and how late each
    firing came. A loop busy with one long callback (a collection, a slow statement,
    a big JSON document) shows here as one late firing of that length."""

    def __init__(self, every: float = 0.01) -> None:
        self.every = every
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._probe())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await asyncio.sleep(self.every)
            observe("loop.lag", max(0.0, (loop.time() - began - self.every) * 1000))
