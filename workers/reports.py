"""Administration jobs: Excel exports of reports, and the hourly clean-up of abandoned
uploads and old export files."""

from __future__ import annotations

import asyncio
import logging

from arq import cron, func

from app.admin.reports import exports
from app.lib import uploads

log = logging.getLogger("safece.admin")


async def export_report(ctx: dict, token: str) -> None:
    """Write a queued report export to an Excel file, reporting progress."""
    await exports.run(ctx["svc"], token)


async def clean_uploads(ctx: dict) -> int:
    """Delete the files of uploads abandoned for a day and exports older than a day."""
    svc = ctx["svc"]
    removed = await uploads.sweep(svc.redis, svc.config.data_dir)
    removed += await asyncio.to_thread(exports.sweep, svc.config.data_dir)
    if removed:
        log.info("clean-up: removed %d abandoned uploads and old exports", removed)
    return removed


FUNCTIONS = [func(export_report, name="export_report", timeout=1800, max_tries=1)]
CRON_JOBS = [cron(clean_uploads, minute=23, second=41, timeout=600, keep_result=0)]
