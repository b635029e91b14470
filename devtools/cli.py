"""Tooling beside the product: ``python -m devtools <command>``.

run        everything `make run` needs: Redis, migrations, demo data, worker, server
cluster    `make cluster`: PostgreSQL, Redis, N servers behind nginx, M workers
seed-demo  load the demo batch and accounts (idempotent)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from app.cli import cmd_db, with_services
from app.config import Config
from devtools import processes


def cmd_seed_demo(args: argparse.Namespace, config: Config) -> int:
    from devtools import demo

    accounts = with_services(config, demo.seed)
    print(demo.describe(accounts))
    return 0


def _stop_signals() -> list[bool]:
    """A list that Ctrl-C (SIGINT), SIGTERM or SIGHUP appends to: the order to stop."""
    stopping: list[bool] = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.append(True))
    return stopping


def _supervise(
    stopping: list[bool], children: list[subprocess.Popen], tend: Callable[[], None] | None = None
) -> int:
    """Wait for the order to stop (0), or for a child to exit unexpectedly (1); ``tend``
    runs meanwhile (restarting what may be restarted)."""
    while not stopping and all(child.poll() is None for child in children):
        if tend is not None:
            tend()
        time.sleep(0.3)
    if not stopping:
        print("有进程意外退出，正在停止……", file=sys.stderr)
        return 1
    print("\n正在停止……", flush=True)
    return 0


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    stopping = _stop_signals()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    # The server and the worker add up their metrics in one directory (app/lib/metrics.py),
    # emptied at each start.
    metrics_dir = config.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    redis: list[subprocess.Popen] = []
    apps: list[subprocess.Popen] = []
    try:
        if not os.environ.get("SAFECE_REDIS_URL"):
            redis.append(
                processes.start_redis(
                    config.data_dir / "redis", unix_socket=config.data_dir / "redis.sock"
                )
            )
            env["SAFECE_REDIS_URL"] = config.redis_url
        cmd_db(argparse.Namespace(action="upgrade"), config)
        cmd_seed_demo(args, config)
        for command in ("worker", "serve"):
            apps.append(processes.spawn([sys.executable, "-m", "app", command], env=env))
        print(
            f"\nSafeCE 已启动：http://127.0.0.1:{config.port}/login   （按 Ctrl-C 停止）\n",
            flush=True,
        )
        return _supervise(stopping, [*redis, *apps])
    finally:
        # The server and the worker first (they write to Redis as they stop), then Redis.
        processes.stop(apps)
        processes.stop(redis)


def cmd_cluster(args: argparse.Namespace, config: Config) -> int:
    from devtools.cluster import Cluster, Plan

    stopping = _stop_signals()
    plan = Plan(
        directory=Path(args.dir) if args.dir else config.data_dir / "cluster",
        servers=args.servers,
        workers=args.workers,
        port=int(os.environ.get("PORT", "8080")),
        host=args.host,
        database=args.database,
        pooler=args.pooler,
    )
    cluster = Cluster(plan, config)
    try:
        config = cluster.start_stores()
        cmd_db(argparse.Namespace(action="upgrade"), config)
        if args.demo:
            cmd_seed_demo(args, config)
        cluster.start_processes()
        state = cluster.state()
        print(
            f"\nSafeCE 集群已启动：{cluster.url}/login   （按 Ctrl-C 停止）\n"
            f"  nginx → {plan.servers} 个网站进程（端口 "
            f"{'、'.join(str(s['port']) for s in state['servers'])}），"
            f"{plan.workers} 个后台任务进程\n"
            f"  数据库 {config.database_url}\n  Redis {config.redis_url}\n"
            f"  状态 {cluster.url}/healthz，进程清单 {cluster.state_file}\n",
            flush=True,
        )
        return _supervise(stopping, cluster.essentials, tend=cluster.restart_exited)
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools", description="SafeCE 开发工具")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("seed-demo", help="载入演示数据").set_defaults(func=cmd_seed_demo)
    sub.add_parser("run", help="启动全部（make run）").set_defaults(func=cmd_run)
    cl = sub.add_parser("cluster", help="在本机启动集群：PostgreSQL、Redis、多个网站进程、nginx")
    cl.add_argument("--servers", type=int, default=2, help="网站（uvicorn）进程数")
    cl.add_argument("--workers", type=int, default=2, help="后台任务（arq）进程数")
    cl.add_argument("--dir", help="集群目录（默认 var/cluster）")
    cl.add_argument("--host", default="127.0.0.1", help="nginx 监听的地址（端口取 PORT）")
    cl.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    cl.add_argument(
        "--pooler", choices=["", "pgbouncer"], default="", help="PostgreSQL 前的连接池（PgBouncer）"
    )
    cl.add_argument("--no-demo", dest="demo", action="store_false", help="不载入演示数据")
    cl.set_defaults(func=cmd_cluster)
    args = parser.parse_args(argv)
    sys.exit(args.func(args, Config.from_env()))
