"""Child processes of `make run` and `make cluster`: start them, wait for them, stop them.

Each child runs in a session of its own: a Ctrl-C in the terminal reaches only the parent,
which then stops its children in order (Redis and PostgreSQL must outlive the processes
that write to them).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


def spawn(command: list[str], **options: object) -> subprocess.Popen:
    """Start a child in its own session (see the module docstring)."""
    return subprocess.Popen(command, start_new_session=True, **options)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(ready: Callable[[], bool], children: list[subprocess.Popen], timeout: float) -> bool:
    """Poll ``ready`` until it holds; False if a child exits or the time runs out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if any(child.poll() is not None for child in children):
            return False
        time.sleep(0.2)
    return False


def answers(url: str) -> bool:
    """Whether an HTTP GET of ``url`` succeeds (2xx)."""
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
        return 200 <= response.status < 300
    return False


def start_redis(
    directory: Path, *, unix_socket: Path | None = None, port: int = 0, maxclients: int = 10000
) -> subprocess.Popen:
    """redis-server with an append-only file in ``directory``, on a unix socket or a
    127.0.0.1 port; returns once it accepts connections."""
    server = shutil.which("redis-server")
    if server is None:
        sys.exit("找不到 redis-server：请先运行 make run（会自动安装），或设置 SAFECE_REDIS_URL")
    directory.mkdir(parents=True, exist_ok=True)
    command = [server, "--port", str(port), "--dir", str(directory)]
    if port:
        command += ["--bind", "127.0.0.1"]
    if unix_socket is not None:
        unix_socket.unlink(missing_ok=True)
        command += ["--unixsocket", str(unix_socket), "--unixsocketperm", "700"]
    command += ["--appendonly", "yes", "--save", "", "--loglevel", "warning"]
    command += ["--maxclients", str(maxclients)]
    proc = spawn(command)

    def listening() -> bool:
        if unix_socket is not None:
            return unix_socket.exists()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        return False

    if not wait_for(listening, [proc], timeout=10):
        proc.terminate()
        sys.exit("redis-server 未能启动")
    return proc


def stop(children: list[subprocess.Popen], timeout: float = 30) -> None:
    """Ask each child to stop (SIGTERM), then wait for all of them; kill what hangs."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
