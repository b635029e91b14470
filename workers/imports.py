"""Import jobs: the rows of an uploaded learner list, written by the worker.

The job owns the units of work: one read session to check the file, then one write
transaction per chunk of rows, so a long import never holds the write lock for long.
The CLI's ``import-learners`` runs the same ``run_import`` in its own process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from arq import func

from app.admin import imports

Progress = Callable[[int, int], Awaitable[None]]


async def run_import(
    svc,
    data: bytes,
    *,
    file_name: str,
    actor_id: int | None,
    ip: str = "",
    progress: Progress | None = None,
) -> imports.ImportReport:
    """Check a learner list, then write its rows chunk by chunk, reporting progress."""
    rows = await asyncio.to_thread(imports.read_sheet, data, file_name)
    async with svc.db.read() as db:
        prepared = await imports.check(session=db, now=svc.now(), rows=rows, file_name=file_name)
    while True:
        async with svc.db.write() as db:
            done = await imports.write_chunk(
                session=db, config=svc.config, prepared=prepared, actor_id=actor_id, ip=ip
            )
        if done:
            return prepared.report
        if progress is not None:
            await progress(prepared.position, len(prepared.planned))


async def import_learners(
    ctx: dict, token: str, file_name: str, actor_id: int | None, ip: str
) -> None:
    """Write the checked rows of a queued learner list and record its report."""
    svc = ctx["svc"]
    path = imports.upload_path(svc.config, token)

    async def progress(done: int, total: int) -> None:
        await imports.save_status(
            svc, token, state="running", file_name=file_name, done=done, total=total
        )

    try:
        data = await asyncio.to_thread(path.read_bytes)
        report = await run_import(
            svc, data, file_name=file_name, actor_id=actor_id, ip=ip, progress=progress
        )
    except Exception:
        await imports.save_status(
            svc, token, state="failed", message=imports.FAILED, file_name=file_name
        )
        raise
    await imports.save_status(svc, token, state="done", report=report.to_dict())
    path.unlink(missing_ok=True)


# Ten thousand new learners take a minute or two; arq's default 300 s is too tight.
FUNCTIONS = [func(import_learners, name="import_learners", timeout=3600, max_tries=1)]
