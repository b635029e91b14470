"""Chunked, resumable uploads of large files (training videos are hundreds of MB).

The page asks to ``begin`` an upload with the file's name, size and a fingerprint; the
server answers with a token and how much it already holds, so a page reloaded after a
dropped connection continues where it stopped. Chunks are appended in order (a chunk at
the wrong offset is refused with the right one); ``complete`` hands the finished file to
the caller, who moves it into place. Upload state lives in Redis (shared by every server
process) and expires after a day without progress; ``sweep`` deletes the files of
abandoned uploads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import AsyncIterable
from pathlib import Path

import aiofiles

from app.errors import AppError, NotFound

TTL_SECONDS = 24 * 3600
CHUNK_MAX = 16 * 1024 * 1024
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
GONE = "上传已过期或不存在，请重新选择文件上传"


@dataclasses.dataclass
class Upload:
    """One upload in progress: what is coming, where it goes, and how much has arrived."""

    token: str
    owner_id: int
    purpose: str  # what the finished file becomes, e.g. "video" or "material"
    target: dict  # the purpose's parameters (course id, video to replace, ...)
    name: str
    size: int
    received: int = 0

    @property
    def complete(self) -> bool:
        return self.received == self.size

    def to_dict(self) -> dict:
        return {"token": self.token, "size": self.size, "received": self.received}


def _dir(data_dir: Path) -> Path:
    return Path(data_dir) / "uploads"


def part_path(data_dir: Path, token: str) -> Path:
    """Where an upload's bytes accumulate."""
    if not TOKEN.match(token):
        raise NotFound(GONE)
    return _dir(data_dir) / f"{token}.part"


def _key(token: str) -> str:
    return f"upload:{token}"


def _resume_key(owner_id: int, fingerprint: str) -> str:
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
    return f"upload:resume:{owner_id}:{digest}"


async def pending_bytes(redis) -> int:
    """The declared size of every upload in progress (the disk they may still take)."""
    total = 0
    async for key in redis.scan_iter(match="upload:*", count=500):
        if key.count(":") == 1:
            size = await redis.hget(key, "size")
            total += int(size or 0)
    return total


async def begin(
    redis,
    data_dir: Path,
    *,
    owner_id: int,
    purpose: str,
    target: dict,
    name: str,
    size: int,
    fingerprint: str,
    max_bytes: int,
    quota_bytes: int,
) -> Upload:
    """Start an upload, or continue the owner's unfinished one of the same file."""
    if size <= 0:
        raise AppError("upload_empty", "文件是空的，请重新选择文件")
    if size > max_bytes:
        raise AppError(
            "upload_too_big",
            f"文件大小 {size / 1024**2:.0f} MB 超过上限 {max_bytes // 1024**2} MB",
            413,
        )
    resume = _resume_key(owner_id, f"{purpose}|{json.dumps(target, sort_keys=True)}|{fingerprint}")
    token = await redis.get(resume)
    if token:
        found = await load(redis, data_dir, token, owner_id=owner_id, missing_ok=True)
        if found is not None and found.size == size:
            return found
    if await pending_bytes(redis) + size > quota_bytes:
        raise AppError(
            "upload_quota",
            "正在进行的上传总量已达上限，请等其他上传完成或 24 小时后未完成的上传被清理后再试",
            413,
        )
    token = secrets.token_urlsafe(18)
    path = part_path(data_dir, token)
    fields = {
        "owner": owner_id,
        "purpose": purpose,
        "target": json.dumps(target),
        "name": name[:200],
        "size": size,
    }
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(_key(token), mapping=fields)
        pipe.expire(_key(token), TTL_SECONDS)
        pipe.set(resume, token, ex=TTL_SECONDS)
        await pipe.execute()
    # After the key exists, so that a sweep never takes a new upload for an abandoned one.
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return Upload(token, owner_id, purpose, target, name[:200], size, 0)


async def load(
    redis, data_dir: Path, token: str, *, owner_id: int, missing_ok: bool = False
) -> Upload | None:
    """An upload of this owner with the bytes received so far."""
    path = part_path(data_dir, token)
    fields = await redis.hgetall(_key(token))
    if not fields or int(fields["owner"]) != owner_id or not path.exists():
        if missing_ok:
            return None
        raise NotFound(GONE)
    return Upload(
        token=token,
        owner_id=owner_id,
        purpose=fields["purpose"],
        target=json.loads(fields["target"]),
        name=fields["name"],
        size=int(fields["size"]),
        received=path.stat().st_size,
    )


async def append(
    redis, data_dir: Path, token: str, *, owner_id: int, offset: int, body: AsyncIterable[bytes]
) -> Upload:
    """Add one chunk at ``offset``; a chunk at another offset is refused with the right one."""
    upload = await load(redis, data_dir, token, owner_id=owner_id)
    lock = f"upload:lock:{token}"
    if not await redis.set(lock, "1", nx=True, ex=120):
        raise AppError("upload_busy", "该文件正在上传中，请稍候", 409, received=upload.received)
    try:
        upload.received = part_path(data_dir, token).stat().st_size
        if offset != upload.received:
            raise AppError(
                "upload_offset", "上传位置不一致，将从断点继续", 409, received=upload.received
            )
        written = 0
        async with aiofiles.open(part_path(data_dir, token), "ab") as f:
            async for piece in body:
                written += len(piece)
                if written > CHUNK_MAX or upload.received + written > upload.size:
                    await f.truncate(upload.received)
                    raise AppError("upload_overflow", "上传的数据超过了文件的大小", 400)
                await f.write(piece)
        upload.received += written
        await redis.expire(_key(token), TTL_SECONDS)
    finally:
        await redis.delete(lock)
    return upload


async def finished(redis, data_dir: Path, token: str, *, owner_id: int) -> tuple[Upload, Path]:
    """A complete upload and its file (which the caller moves away, then ``discard``s)."""
    upload = await load(redis, data_dir, token, owner_id=owner_id)
    if not upload.complete:
        raise AppError(
            "upload_incomplete",
            f"文件尚未上传完（{upload.received}/{upload.size} 字节）",
            409,
            received=upload.received,
        )
    return upload, part_path(data_dir, token)


async def discard(redis, data_dir: Path, token: str) -> None:
    """Forget an upload and delete what it left."""
    await redis.delete(_key(token))
    part_path(data_dir, token).unlink(missing_ok=True)


async def sweep(redis, data_dir: Path, *, now: float | None = None) -> int:
    """Delete the files of uploads that expired (abandoned); returns how many."""
    folder = _dir(data_dir)
    if not folder.is_dir():
        return 0
    now = time.time() if now is None else now
    removed = 0
    for path in folder.glob("*.part"):
        token = path.stem
        alive = await redis.exists(_key(token))
        stale = now - path.stat().st_mtime > TTL_SECONDS
        if not alive or stale:
            path.unlink(missing_ok=True)
            await redis.delete(_key(token))
            removed += 1
    for path in folder.glob("*.tmp"):
        if now - path.stat().st_mtime > TTL_SECONDS:
            os.unlink(path)
    return removed
