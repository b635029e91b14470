"""arq worker settings. Run with ``python -m app worker``.

Jobs are plain async functions named ``verb_noun`` that receive the arq context; the
context holds a ``Services`` container built by the same factory as the web app.
The worker is ``workers.base.Worker``, which stops cleanly whatever job is running; arq's
own command line (``WorkerSettings``) builds arq's plain Worker, which does not.
"""

from __future__ import annotations

from arq.connections import RedisSettings

from app import start_services
from app.config import Config
from app.core import liveness
from app.lib import metrics
from workers import backups, jobs
from workers.base import Worker
from workers.certificates import start_certificate_worker, stop_certificate_worker

FUNCTIONS = jobs.FUNCTIONS


def redis_settings(config: Config) -> RedisSettings:
    return RedisSettings.from_dsn(config.redis_url)


def make_startup(config: Config):
    async def startup(ctx: dict) -> None:
        ctx["svc"] = svc = start_services(config)
        await start_certificate_worker(ctx)
        ctx["heartbeat"] = heartbeat = liveness.Heartbeat(svc.redis, "worker")
        await heartbeat.start()
        ctx["metrics"] = recorder = metrics.Recorder("worker", [svc.db])
        recorder.start()

    return startup


async def shutdown(ctx: dict) -> None:
    if "heartbeat" in ctx:
        await ctx["heartbeat"].stop()
    if "metrics" in ctx:
        await ctx["metrics"].stop()
        metrics.process_stopped()
    await stop_certificate_worker(ctx)
    if "svc" in ctx:
        await ctx["svc"].close()


def build_worker(config: Config, **options: object) -> Worker:
    """An arq Worker for this configuration (used by the CLI and by tests)."""
    return Worker(
        functions=FUNCTIONS,
        cron_jobs=[*jobs.CRON_JOBS, *backups.cron_jobs(config)],
        redis_settings=redis_settings(config),
        on_startup=make_startup(config),
        on_shutdown=shutdown,
        handle_signals=options.pop("handle_signals", True),
        **options,
    )


class WorkerSettings:
    """For the ``arq`` command line (prefer ``python -m app worker``: see above)."""

    functions = FUNCTIONS
    cron_jobs = jobs.CRON_JOBS
    on_shutdown = shutdown


_config = Config.from_env()
WorkerSettings.cron_jobs = [*jobs.CRON_JOBS, *backups.cron_jobs(_config)]
WorkerSettings.redis_settings = redis_settings(_config)
WorkerSettings.on_startup = make_startup(_config)
