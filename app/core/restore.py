"""Restoring a backup (app/core/backup.py): ``python -m app restore DIR``.

Into a fresh place only: the configured database must be empty (a new SQLite file, or a
PostgreSQL database made with ``createdb`` and nothing in it) and the data directory must
hold none of the backed-up files. Before anything is written, every file of the backup is
checked against its SHA-256, and the personal-data key file must be back in place: the
keys the backup names, with the same blind-index key. Then the database is restored, the
files are copied, and the migrations bring the schema up to this release.

Redis is not restored: learners sign in again, their exam pages rejoin the same papers
with every acknowledged answer, and certificates whose jobs were queued are queued again
by the worker's per-minute sweep.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Config
from app.core import backup
from app.core.backup import BackupError
from app.lib import crypto


def read_manifest(source: Path) -> dict:
    try:
        manifest = json.loads((source / backup.MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{source} 不是完整的备份（缺少或无法读取 {backup.MANIFEST}）") from None
    if manifest.get("format") != backup.FORMAT:
        raise BackupError(f"不支持的备份格式：{manifest.get('format')}")
    return manifest


def verify(source: Path, manifest: dict) -> int:
    """Check every file of the backup against its size and SHA-256; returns the count."""
    bad = []
    for name, entry in manifest["files"].items():
        path = source / name
        if (
            not path.is_file()
            or path.stat().st_size != entry["size"]
            or backup.hash_file(path) != entry["sha256"]
        ):
            bad.append(name)
    if bad:
        shown = "、".join(bad[:5]) + (f" 等 {len(bad)} 个" if len(bad) > 5 else "")
        raise BackupError(f"备份已损坏：{shown} 与校验值不符，未做任何恢复")
    return len(manifest["files"])


def check_keys(config: Config, manifest: dict) -> None:
    """The keys the backup needs are in place (never made here: a new key file would make
    every ID number of the backup unreadable)."""
    if config.data_key:
        keys = crypto.Keys.parse(config.data_key)
    elif config.key_file.exists():
        keys = crypto.Keys.parse(config.key_file.read_text(), config.key_file)
    else:
        raise BackupError(
            f"找不到个人数据密钥文件 {config.key_file}：请先把备份时另行保管的密钥文件放回该位置"
            f"（或设置 SAFECE_DATA_KEY_FILE），其中须有密钥 {'、'.join(manifest['keys']['data'])}"
        )
    wanted = manifest["keys"]
    missing = [kid for kid in wanted["data"] if kid not in keys.data]
    if missing or backup.key_summary(keys)["index_check"] != wanted["index_check"]:
        raise BackupError(
            "密钥文件与备份不符：备份需要密钥 "
            f"{'、'.join(wanted['data'])} 及当时的索引密钥；请放回备份时保管的密钥文件"
        )


async def _tables(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if backup.is_sqlite(url):
                query = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            else:
                query = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            return int(await conn.scalar(text(query)))
    finally:
        await engine.dispose()


async def check_target(config: Config, manifest: dict) -> None:
    """The database is empty and of the backup's kind; the data directory holds no files."""
    kind = "sqlite" if backup.is_sqlite(config.database_url) else "postgresql"
    if kind != manifest["database"]:
        raise BackupError(f"备份的数据库是 {manifest['database']}，当前配置的是 {kind}")
    path = backup.sqlite_path(config.database_url) if kind == "sqlite" else None
    fresh_file = path is not None and (not path.exists() or path.stat().st_size == 0)
    if not fresh_file and await _tables(config.database_url):
        raise BackupError(
            "目标数据库不是空的：请恢复到新的数据库（PostgreSQL 先 createdb 一个空库）"
        )
    for folder in backup.file_dirs(config):
        if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
            raise BackupError(f"数据目录 {folder} 中已有文件：请恢复到新的数据目录")


async def restore(config: Config, source: Path) -> dict:
    """Restore the backup in ``source`` into the configured database and data directory."""
    source = Path(source)
    manifest = read_manifest(source)
    await asyncio.to_thread(verify, source, manifest)
    check_keys(config, manifest)
    await check_target(config, manifest)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    dump = source / manifest["database_file"]
    if manifest["database"] == "sqlite":
        path = backup.sqlite_path(config.database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
        await asyncio.to_thread(backup.sqlite_copy, dump, path)
    else:
        env = backup.libpq_env(config.database_url)
        command = [backup.pg_tool("pg_restore"), "--no-owner", "--no-privileges"]
        command += ["--exit-on-error", "--single-transaction", "-d", env["PGDATABASE"], str(dump)]
        await backup.run_tool(command, env)
    await asyncio.to_thread(_copy_files, source, config)
    from app import migrate

    await asyncio.to_thread(migrate.upgrade, config.database_url)
    return manifest


def _copy_files(source: Path, config: Config) -> None:
    root = source / backup.FILES
    if not root.is_dir():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        dest = config.data_dir / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
