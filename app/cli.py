"""Command line: ``python -m app <command>``.

db upgrade          apply Alembic migrations
create-user         create an account
import-learners F   import learners and enrolments from an .xlsx file
import-questions F  import questions into a bank from an .xlsx or .csv file
retry-certificates  queue failed and missing certificates again
rotate-key          encrypt personal data under a new key (the key file's), drop the old one
backup DIR          the database and the files into a new directory (safe while exams run)
restore DIR         a backup into an empty database and data directory
worker              run the arq worker
serve               serve the app (Socket.IO around Quart) with uvicorn

The demo, `make run` and `make cluster` are tooling beside the product: `python -m devtools`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from app.config import Config
from app.lib import logs


def with_services(config: Config, work):
    from app import start_services

    async def runner():
        svc = start_services(config)
        try:
            return await work(svc)
        finally:
            await svc.close()

    return asyncio.run(runner())


def cmd_db(args: argparse.Namespace, config: Config) -> int:
    from app import migrate

    if args.action != "upgrade":
        print("用法：python -m app db upgrade", file=sys.stderr)
        return 2
    config.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(config.database_url)
    print("数据库已升级到最新版本")
    return 0


def cmd_create_user(args: argparse.Namespace, config: Config) -> int:
    from app.accounts import service
    from app.errors import AppError

    async def work(svc):
        async with svc.db.write() as db:
            return await service.create(
                session=db,
                config=svc.config,
                now=svc.now(),
                id_number=args.id_number,
                name=args.name,
                work_unit=args.work_unit,
                roles=tuple(args.role or ["learner"]),
                password=args.password,
            )

    try:
        user = with_services(config, work)
    except AppError as error:
        print(f"创建失败：{error.message}", file=sys.stderr)
        return 1
    note = "（初始密码为身份证号后六位，首次登录须修改）" if not args.password else ""
    print(f"已创建账号 {user.id_number} {user.name}{note}")
    return 0


def cmd_import_learners(args: argparse.Namespace, config: Config) -> int:
    from app.admin import imports
    from app.errors import AppError
    from app.lib import spreadsheet
    from workers.imports import run_import

    async def work(svc):
        path = Path(args.file)
        data = await asyncio.to_thread(spreadsheet.read_file, path, imports.LIMITS)
        return await run_import(svc, data, file_name=path.name, actor_id=None)

    try:
        report = with_services(config, work)
    except AppError as error:
        print(f"导入失败：{error.message}", file=sys.stderr)
        return 1
    print(report.summary())
    for line in report.error_lines():
        print(line)
    return 0 if not report.errors else 1


def cmd_import_questions(args: argparse.Namespace, config: Config) -> int:
    from app.errors import AppError
    from app.exams import importer, policies
    from app.lib import spreadsheet

    async def work(svc):
        path = Path(args.file)
        data = await asyncio.to_thread(spreadsheet.read_file, path, importer.LIMITS)
        rows = await asyncio.to_thread(importer.read_rows, data, path.name)
        async with svc.db.write() as db:
            bank = await policies.get_or_create_bank(session=db, name=args.bank, now=svc.now())
            return await importer.import_questions(session=db, bank=bank, rows=rows, now=svc.now())

    try:
        report = with_services(config, work)
    except AppError as error:
        print(f"导入失败：{error.message}", file=sys.stderr)
        return 1
    print(f"题库《{args.bank}》：{report.summary()}")
    for line in report.error_lines():
        print(line)
    return 0 if not report.errors else 1


def cmd_retry_certificates(args: argparse.Namespace, config: Config) -> int:
    from app.certificates import issuing, service

    async def work(svc):
        async with svc.db.write() as db:
            failed = await service.retry_failed(session=db, now=svc.now())
            lost = await issuing.sweep(session=db, now=svc.now())
        return len(failed), len(lost)

    failed, lost = with_services(config, work)
    print(f"已重新排队：生成失败的证书 {failed} 张，未生成或中断的证书 {lost} 张")
    return 0


def rotate_key(config: Config) -> tuple[str, int]:
    """Add a new current data key, re-encrypt every ID number with it, drop the old keys.

    The key file is written twice: first with both keys (a process reading a row sealed
    under the new key finds it), then, once every row is re-encrypted, with the new only."""
    from app import db
    from app.lib import crypto

    old = crypto.load(config)
    if old.source is None:
        raise SystemExit(
            "密钥来自 SAFECE_DATA_KEY：请在该变量最前面加入新密钥（格式见 app/lib/crypto.py），"
            "重启后再运行本命令；或改用 SAFECE_DATA_KEY_FILE"
        )
    kid = crypto.new_key_id()
    both = crypto.Keys(old.index, [(kid, os.urandom(32)), *old.data.items()], old.source)
    crypto.write_key_file(old.source, both)

    async def work(svc):
        async with svc.db.write() as session:
            return await db.reseal(session)

    count = with_services(config, work)
    fresh = crypto.Keys(old.index, [(kid, both.data[kid])], old.source)
    crypto.write_key_file(old.source, fresh)
    crypto.install_from(old.source)
    return kid, count


def cmd_rotate_key(args: argparse.Namespace, config: Config) -> int:
    kid, count = rotate_key(config)
    print(f"已启用新密钥 {kid}，{count} 个身份证号已重新加密；旧密钥已删除。请重启各服务进程。")
    return 0


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    from app.clock import utcnow
    from app.core import backup

    try:
        manifest = asyncio.run(backup.create(config, Path(args.dir), now=utcnow()))
    except backup.BackupError as error:
        print(f"备份失败：{error}", file=sys.stderr)
        return 1
    size = sum(entry["size"] for entry in manifest["files"].values())
    print(
        f"已备份到 {args.dir}：数据库（{manifest['database']}）与 {len(manifest['files']) - 1} 个文件，"
        f"共 {size / 1024**2:.1f} MB。\n"
        f"个人数据密钥不在备份中：恢复时须有密钥 {'、'.join(manifest['keys']['data'])}"
        f"（{config.key_file if not config.data_key else 'SAFECE_DATA_KEY'}），请另行保管。"
    )
    return 0


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    from app.core import backup, restore

    try:
        manifest = asyncio.run(restore.restore(config, Path(args.dir)))
    except backup.BackupError as error:
        print(f"恢复失败：{error}", file=sys.stderr)
        return 1
    print(
        f"已从 {args.dir}（{manifest['created_at']} 的备份）恢复数据库与 "
        f"{len(manifest['files']) - 1} 个文件到 {config.data_dir}。\n"
        "Redis 中的会话与队列不在备份中：学员需重新登录；考试页面重新进入同一份试卷。"
    )
    return 0


def cmd_worker(args: argparse.Namespace, config: Config) -> int:
    from workers.settings import build_worker

    logs.configure(config.log_format, "worker")
    # arq writes two lines per job at INFO, and the deadline sweeper runs every second:
    # its warnings and errors stay; /metrics counts the jobs (safece_jobs_total).
    logging.getLogger("arq").setLevel(logging.WARNING)
    asyncio.set_event_loop(asyncio.new_event_loop())
    build_worker(config).run()
    return 0


# How every server process runs uvicorn (bench/floor.py runs its bare server the same way).
UVICORN_OPTIONS = dict(
    log_level="info",
    # uvicorn's own lines go through our handler (the configured format), not its own.
    log_config=None,
    # No access log: query strings (an admin's search for an ID number) would land there.
    access_log=False,
    # Forwarded headers are read by the app itself, counting SAFECE_TRUST_PROXY hops.
    proxy_headers=False,
    # Longer than a proxy keeps idle connections to us (nginx: 60 s), so that the proxy
    # never reuses one that we are closing at that moment (a 502 for the request).
    timeout_keep_alive=75,
    # Socket.IO frames are ~100 bytes: compressing each costs CPU and saves nothing.
    ws_per_message_deflate=False,
    # Engine.IO pings every socket every 25 s and closes one that does not answer within
    # 20 s (realtime/server.py); uvicorn's own WebSocket pings (every 20 s by default) did
    # the same job a second time, for every idle socket.
    ws_ping_interval=None,
    ws_ping_timeout=None,
    backlog=8192,
    # On SIGTERM requests in flight get this long to finish; an open long-poll (held up
    # to the 25 s ping interval) is then cut, and its page reconnects to another process.
    timeout_graceful_shutdown=5,
)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    import uvicorn

    logs.configure(config.log_format, "server")
    uvicorn.run("app.asgi:serve", factory=True, host=args.host, port=config.port, **UVICORN_OPTIONS)
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description="SafeCE 命令行")
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="数据库迁移")
    db.add_argument("action", choices=["upgrade"])
    db.set_defaults(func=cmd_db)
    cu = sub.add_parser("create-user", help="创建账号")
    cu.add_argument("id_number")
    cu.add_argument("name")
    cu.add_argument("--work-unit", default="")
    cu.add_argument(
        "--role", action="append", help="learner/invigilator/admin/reviewer/final_reviewer，可重复"
    )
    cu.add_argument("--password", help="不填则发放初始密码（身份证号后六位）")
    cu.set_defaults(func=cmd_create_user)
    il = sub.add_parser("import-learners", help="从 Excel 导入学员并报名批次")
    il.add_argument("file")
    il.set_defaults(func=cmd_import_learners)
    iq = sub.add_parser("import-questions", help="从 Excel 或 CSV 导入试题到题库")
    iq.add_argument("file")
    iq.add_argument("--bank", default="注册安全工程师继续教育题库", help="题库名称，不存在时新建")
    iq.set_defaults(func=cmd_import_questions)
    sub.add_parser("retry-certificates", help="重新生成失败或遗漏的证书").set_defaults(
        func=cmd_retry_certificates
    )
    sub.add_parser("rotate-key", help="更换个人数据加密密钥并重新加密").set_defaults(
        func=cmd_rotate_key
    )
    bk = sub.add_parser("backup", help="备份数据库与文件到一个新目录（可在考试进行中运行）")
    bk.add_argument("dir")
    bk.set_defaults(func=cmd_backup)
    rs = sub.add_parser("restore", help="把备份恢复到新的（空的）数据库与数据目录")
    rs.add_argument("dir")
    rs.set_defaults(func=cmd_restore)
    sub.add_parser("worker", help="运行 arq 后台任务进程").set_defaults(func=cmd_worker)
    serve = sub.add_parser("serve", help="启动网站")
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)
    args = parser.parse_args(argv)
    config = Config.from_env()
    logs.configure(config.log_format, "cli")
    sys.exit(args.func(args, config))
