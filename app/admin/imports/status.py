"""The queued import: the web page checks a file at once and queues the writing for the
worker (workers/imports.py); progress and the final report are kept in Redis for a day."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

from app.config import Config

STATUS_TTL = 24 * 3600
# A queued or running import whose progress has not moved for this long was cut off.
STATUS_STALE_SECONDS = 600
INTERRUPTED = (
    "导入被中断（例如服务器重启）。已导入的行不受影响；请重新导入同一文件，已导入的行会自动跳过。"
)
FAILED = "导入过程中发生错误，已导入的行不受影响；请稍后重新导入同一文件，已导入的行会自动跳过。"


def upload_path(config: Config, token: str) -> Path:
    """Where a queued upload waits for the worker."""
    return config.data_dir / "imports" / f"{token}.xlsx"


def _status_key(token: str) -> str:
    return f"admin:import:{token}"


async def save_status(svc, token: str, **status: Any) -> None:
    """Record an import's state (queued, running, done, failed) for its result page."""
    status["updated"] = svc.now().timestamp()
    await svc.redis.set(_status_key(token), json.dumps(status, ensure_ascii=False), ex=STATUS_TTL)


async def load_status(svc, token: str) -> dict[str, Any] | None:
    """An import's state; one that stopped moving is reported as interrupted."""
    raw = await svc.redis.get(_status_key(token)) if len(token) < 64 else None
    if raw is None:
        return None
    status = json.loads(raw)
    stale = svc.now().timestamp() - status["updated"] > STATUS_STALE_SECONDS
    if status["state"] in ("queued", "running") and stale:
        status.update(state="failed", message=INTERRUPTED)
    return status


async def queue(
    svc, data: bytes, *, file_name: str, total: int, actor_id: int | None, ip: str
) -> str:
    """Keep a checked file for the worker and queue the writing of its ``total`` rows."""
    token = secrets.token_urlsafe(16)
    path = upload_path(svc.config, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, data)
    await save_status(svc, token, state="queued", file_name=file_name, done=0, total=total)
    await svc.enqueue("import_learners", token, file_name, actor_id, ip)
    return token
