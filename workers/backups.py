"""The nightly backup (app/core/backup.py): one a night, the last ``SAFECE_BACKUP_KEEP``
kept in ``SAFECE_BACKUP_DIR`` (by default backups/ in the data directory)."""

from __future__ import annotations

import datetime as dt
import logging

from arq import cron

from app.clock import SHANGHAI
from app.config import Config
from app.core import backup

log = logging.getLogger("safece.backups")


async def make_backup(ctx: dict) -> str:
    """Back up into a new directory named after the time, then drop the oldest beyond N."""
    svc = ctx["svc"]
    config = svc.config
    now = svc.now()
    target = config.backups / f"safece-{now.astimezone(SHANGHAI):%Y%m%d-%H%M%S}"
    manifest = await backup.create(config, target, now=now)
    dropped = backup.prune(config.backups, config.backup_keep)
    log.info(
        "backup: %s (%d files); %d old ones deleted", target, len(manifest["files"]), len(dropped)
    )
    return str(target)


def local_hour(shanghai_hour: int) -> int:
    """The hour of this machine's clock (arq's cron uses it) when Shanghai's is this one."""
    today = dt.datetime.now(SHANGHAI).replace(hour=shanghai_hour % 24, minute=0)
    return today.astimezone().hour


def cron_jobs(config: Config) -> list:
    """The nightly backup at SAFECE_BACKUP_HOUR (Asia/Shanghai), 30 minutes past."""
    return [
        cron(
            make_backup,
            hour=local_hour(config.backup_hour),
            minute=30,
            second=0,
            microsecond=0,
            timeout=6 * 3600,
            keep_result=0,
            max_tries=1,
        )
    ]
