"""Backups: ``python -m app backup DIR``, and the worker's nightly one (workers/backups.py).

A backup is a directory:

- ``database.sqlite3`` (SQLite's online backup API: one read transaction, so a consistent
  copy while exams write) or ``database.pgdump`` (``pg_dump -Fc``: one snapshot);
- ``files/``: the photos, registration photos, certificates and the uploaded media
  (videos, posters, study materials), as they are under the data directory;
- ``manifest.json``: what it holds, each file's size and SHA-256, the schema revision and the
  ids of the personal-data keys it needs (never the keys: the key file is kept apart, see
  docs/deployment.md); ``SHA256SUMS`` the same checksums for ``sha256sum -c``.

The database is copied first, then the files: an answer acknowledged before the backup
began was committed before it (every save is acknowledged after its commit), so it is in
the copy; a file written meanwhile is either copied or not yet needed by the copied rows.
Redis is not backed up: it holds sessions, queues and live state, no acknowledged data
(a study credit acknowledged in the last few seconds may not have reached the database).

A backup is written to ``DIR.partial`` and renamed when complete. A file unchanged since
the previous backup beside it (same size and modification time) is hard-linked to that
copy, so that nightly backups of gigabytes of video take no more room than what changed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from app.certificates import issuing
from app.config import Config
from app.learning import videos
from app.lib import crypto
from app.registration import submission

FORMAT = 1
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
FILES = "files"
CHUNK = 1024 * 1024
# What the index-key check value is computed over (the HMAC of a fixed text under the
# blind-index key: proves at restore that the same key is in place, reveals nothing).
KEY_CHECK = b"safece-backup-key-check"


class BackupError(Exception):
    """A backup or a restore that cannot go on; the message is for the operator (Chinese)."""


def file_dirs(config: Config) -> list[Path]:
    """The directories of the data directory that hold data a person made or earned."""
    return [
        config.photo_dir,
        submission.photo_dir(config),
        issuing.certificate_dir(config),
        videos.media_dir(config.data_dir),
    ]


def key_summary(keys: crypto.Keys) -> dict:
    """What a backup records of the keys: their ids and a check value, never a key."""
    check = hmac.new(keys.index, KEY_CHECK, hashlib.sha256).hexdigest()[:32]
    return {"data": sorted(keys.data), "index_check": check}


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database)


def libpq_env(url: str) -> dict[str, str]:
    """The environment with which pg_dump, pg_restore and psql reach the app's database."""
    parts = make_url(url)
    env = dict(os.environ)
    host = parts.host or parts.query.get("host")
    found = {
        "PGHOST": host,
        "PGPORT": str(parts.port) if parts.port else None,
        "PGUSER": parts.username,
        "PGPASSWORD": parts.password,
        "PGDATABASE": parts.database,
    }
    env.update({name: value for name, value in found.items() if value})
    return env


def pg_tool(name: str) -> str:
    """A PostgreSQL client program (Debian's wrapper, else the newest installed version)."""
    found = shutil.which(name)
    if found is None:
        versions = sorted(
            Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        found = str(versions[-1]) if versions else None
    if found is None:
        raise BackupError(
            f"找不到 {name}：请安装 PostgreSQL 客户端（apt-get install postgresql-client）"
        )
    return found


async def run_tool(command: list[str], env: dict[str, str]) -> None:
    """Run a PostgreSQL client program; its complaint becomes a BackupError."""
    proc = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        name = Path(command[0]).name
        raise BackupError(
            f"{name} 失败（{proc.returncode}）：{err.decode(errors='replace')[-800:]}"
        )


def sqlite_copy(source: Path, dest: Path) -> None:
    """Copy a SQLite database with its online backup API, in one step: one read
    transaction, which writers in WAL mode do not wait for."""
    src = sqlite3.connect(source, timeout=30)
    out = sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_and_hash(source: Path, dest: Path) -> str:
    """Copy a file (keeping its modification time) and return its SHA-256, reading it once."""
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    shutil.copystat(source, dest)
    return digest.hexdigest()


def previous_backup(target: Path) -> tuple[Path, dict] | None:
    """The newest complete backup beside ``target`` and its manifest (for hard links)."""
    found = []
    for sibling in target.parent.iterdir() if target.parent.is_dir() else []:
        manifest = sibling / MANIFEST
        if sibling != target and manifest.is_file():
            found.append((manifest.stat().st_mtime, sibling))
    if not found:
        return None
    newest = max(found)[1]
    try:
        return newest, json.loads((newest / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def copy_files(config: Config, staging: Path, previous: tuple[Path, dict] | None) -> dict:
    """Copy the data files into ``staging/files``; returns their manifest entries."""
    entries: dict[str, dict] = {}
    earlier = previous[1].get("files", {}) if previous else {}
    for folder in file_dirs(config):
        if not folder.is_dir():
            continue
        for source in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = source.relative_to(config.data_dir).as_posix()
            name = f"{FILES}/{relative}"
            dest = staging / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            stat = source.stat()
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            before = earlier.get(name)
            if before and all(before.get(k) == entry[k] for k in ("size", "mtime_ns")):
                try:
                    os.link(previous[0] / name, dest)
                    entries[name] = {**entry, "sha256": before["sha256"]}
                    continue
                except OSError:
                    pass  # another file system, or the old copy is gone: copy it
            try:
                entries[name] = {**entry, "sha256": copy_and_hash(source, dest)}
            except FileNotFoundError:
                continue  # deleted since it was listed (a replaced photo): not needed
    return entries


async def schema_revision(config: Config) -> str:
    """The Alembic revision of the database (what the restoring code must reach)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(config.database_url)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SELECT version_num FROM alembic_version")))
    finally:
        await engine.dispose()


async def create(config: Config, target: Path, *, now: dt.datetime) -> dict:
    """Write a complete backup to ``target`` (which must not exist); returns its manifest."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"备份目录 {target} 已存在且不为空，请指定新的目录")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    keys = crypto.load(config)
    revision = await schema_revision(config)
    # The database first: everything acknowledged until now is in this copy.
    if is_sqlite(config.database_url):
        database = SQLITE_FILE
        await asyncio.to_thread(sqlite_copy, sqlite_path(config.database_url), staging / database)
    else:
        database = PG_FILE
        env = libpq_env(config.database_url)
        await run_tool([pg_tool("pg_dump"), "-Fc", "-f", str(staging / database)], env)
    previous = previous_backup(target)
    files = await asyncio.to_thread(copy_files, config, staging, previous)
    files[database] = {
        "size": (staging / database).stat().st_size,
        "sha256": await asyncio.to_thread(hash_file, staging / database),
    }
    manifest = {
        "format": FORMAT,
        "created_at": now.astimezone(dt.UTC).isoformat(),
        "database": "sqlite" if database == SQLITE_FILE else "postgresql",
        "database_file": database,
        "schema_revision": revision,
        "keys": key_summary(keys),
        "key_note": "个人数据密钥不在备份中：恢复前须把备份时的密钥文件放回 SAFECE_DATA_KEY_FILE 所指位置",
        "files": files,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    (staging / SUMS).write_text(
        "".join(f"{entry['sha256']}  {name}\n" for name, entry in sorted(files.items()))
    )
    if target.exists():
        target.rmdir()
    staging.rename(target)
    return manifest


def prune(parent: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest complete backups in ``parent`` (and partial ones
    left by an interrupted run); returns what was deleted."""
    complete = sorted(
        (p for p in parent.glob("safece-*") if (p / MANIFEST).is_file()),
        key=lambda p: p.name,
    )
    doomed = complete[: max(0, len(complete) - keep)]
    doomed += [p for p in parent.glob("safece-*.partial") if p.is_dir()]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed
