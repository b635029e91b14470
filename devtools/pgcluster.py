"""A private PostgreSQL cluster in a directory of our own, for tests and `make cluster`.

It runs Debian's server binaries directly (initdb + pg_ctl), listens on a unix socket in
its directory only (no TCP port, no system service) and trusts local connections. As
root, PostgreSQL refuses to run, so the server runs as the `postgres` user that Debian's
package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path


def server_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (newest version), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).resolve().parent if pg_ctl else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


class PrivateCluster:
    """initdb on first start, then pg_ctl start/stop; ``url(database)`` for asyncpg."""

    def __init__(self, directory: Path, *, max_connections: int = 200, fast: bool = False) -> None:
        self.directory = Path(directory)
        # Tests throw the data away: durability settings off make them quicker.
        self.fast = fast
        self.data = self.directory / "data"
        self.socket_dir = self.directory / "run"
        self.max_connections = max_connections
        self.bin = server_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            entry = pwd.getpwnam(self._user)
            return subprocess.run(
                command,
                check=check,
                capture_output=True,
                text=True,
                user=entry.pw_uid,
                group=entry.pw_gid,
                extra_groups=[],
                cwd="/",
            )
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> PrivateCluster:
        """Create the cluster if needed and start it; returns once it accepts connections."""
        self._own(self.directory)
        self._own(self.socket_dir)
        if not (self.data / "PG_VERSION").exists():
            self._own(self.data)
            self._run(
                "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                "--locale=C.UTF-8",
            )  # fmt: skip
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c max_connections={self.max_connections}"
        )
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        return self

    def create_database(self, name: str) -> str:
        """Create a database (if missing) and return its asyncpg URL."""
        exists = self._run(
            "psql", "-h", str(self.socket_dir), "-U", "postgres", "-d", "postgres", "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
        ).stdout.strip()  # fmt: skip
        if not exists:
            self._run("createdb", "-h", str(self.socket_dir), "-U", "postgres", name)
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
