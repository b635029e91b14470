"""Import jobs: the rows of an uploaded learner list, written by the worker."""

from __future__ import annotations

from arq import func

from app.admin import imports


async def import_learners(
    ctx: dict, token: str, file_name: str, actor_id: int | None, ip: str
) -> None:
    """Write the checked rows of a queued learner list and record its report."""
    await imports.run_queued(ctx["svc"], token, file_name=file_name, actor_id=actor_id, ip=ip)


# Ten thousand new learners take a minute or two; arq's default 300 s is too tight.
FUNCTIONS = [func(import_learners, name="import_learners", timeout=3600, max_tries=1)]
