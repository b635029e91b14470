"""arq's Worker, stopping cleanly whatever job it is running.

arq stops a worker (``Worker.handle_sig``, which ``Worker.close`` also calls) by
cancelling each job's *runner*, the task that runs the job and then records its outcome
in Redis under ``asyncio.shield``. A runner cancelled during that shielded write ends with
``CancelledError`` while the write carries on without it, so ``close()`` re-raises the
``CancelledError`` from its ``gather``, never runs the shutdown hook (the certificate
worker started there keeps polling, stealing the queue of whoever comes next) and the
orphaned write races the pool being closed.

This worker stops the other way round: it stops polling, cancels the *jobs* (each runner
sees its job cancelled, logs that it will be run again and finishes its bookkeeping
normally), waits for the runners, and only then lets arq close, with nothing left to
cancel. Built on arq 0.28's attributes (``tasks``, ``job_tasks``, ``main_task``), which
the pin in pyproject.toml holds still.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import signal
import time

import arq
from arq import Retry

from app.lib import logs, metrics

log = logging.getLogger("safece.worker")

# How often a stopping worker looks for jobs that started after it cancelled the others
# (a runner that was still reading its job from Redis creates the job a moment later).
_RECHECK_SECONDS = 0.05


class Worker(arq.Worker):
    """An arq worker whose stop (signal, ``close()`` or ``stop()``) never raises."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = False
        self._cancelled_jobs: set[str] = set()
        # Every job's outcome and duration go to /metrics (safece_jobs, safece_job_seconds).
        self.functions = {
            name: dataclasses.replace(function, coroutine=_counted(name, function.coroutine))
            for name, function in self.functions.items()
        }

    def handle_sig(self, signum: int) -> None:
        if self._stopping:
            return
        self._stopping = True
        sig = signal.Signals(signum)
        log.info(
            "stopping on %s: %d jobs in hand are cancelled, to run again", sig.name, len(self.tasks)
        )
        self.allow_pick_jobs = False
        self._cancel_jobs()
        if self.main_task is not None:
            self.main_task.cancel()
        if self.on_stop is not None:
            self.on_stop(sig)

    def _cancel_jobs(self) -> None:
        # Each job once, so that it may clean up (and await) after its CancelledError.
        for job_id, job in self.job_tasks.items():
            if job_id not in self._cancelled_jobs:
                self._cancelled_jobs.add(job_id)
                job.cancel()

    async def _drain(self) -> None:
        """Wait for every runner to finish, cancelling jobs that start meanwhile."""
        while True:
            for job_id, runner in list(self.tasks.items()):
                if runner.done():
                    del self.tasks[job_id]
                    if not runner.cancelled() and runner.exception() is not None:
                        log.error(
                            "job %s: arq failed to finish it", job_id, exc_info=runner.exception()
                        )
            if not self.tasks:
                return
            self._cancel_jobs()
            await asyncio.wait(list(self.tasks.values()), timeout=_RECHECK_SECONDS)

    async def close(self) -> None:
        """Stop (if not stopped yet), wait for the jobs in hand, run the shutdown hook."""
        self.handle_sig(signal.SIGUSR1)
        if self.main_task is not None:
            await asyncio.wait([self.main_task])
            if not self.main_task.cancelled() and self.main_task.exception() is not None:
                log.error("worker stopped on an error", exc_info=self.main_task.exception())
        await self._drain()
        await super().close()


def _counted(name: str, coroutine):
    """``coroutine`` (an arq job), counting how it ended and timing it, in a log context of
    its own (``event``: ``job <name>``)."""

    @functools.wraps(coroutine)
    async def job(ctx, *args, **kwargs):
        logs.bind(event=f"job {name}")
        began = time.perf_counter()
        outcome = "failed"
        try:
            result = await coroutine(ctx, *args, **kwargs)
            outcome = "complete"
            return result
        except Retry:
            outcome = "retry"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            metrics.JOBS.labels(name, outcome).inc()
            metrics.JOB_SECONDS.labels(name).observe(time.perf_counter() - began)

    return job


def start(worker: Worker) -> asyncio.Task:
    """Run the worker in a task of the running loop (stop it with ``stop``)."""
    return asyncio.create_task(worker.async_run(), name=f"arq worker {worker.queue_name}")


async def stop(worker: Worker, task: asyncio.Task) -> None:
    """Stop a worker started with ``start``: whatever job it is running, this returns
    normally once its jobs are cancelled (to run again), its hook ran and Redis is closed."""
    # Cancelling the task stops main() too, or keeps it from ever starting.
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # a failed main() is logged by close(); this marks it seen
    await worker.close()
