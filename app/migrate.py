"""Run Alembic migrations programmatically (no alembic.ini at the top level)."""

from __future__ import annotations

import contextlib
import sqlite3

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.engine import make_url

from app.config import ROOT


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to a revision. Blocking: call it from a thread inside a loop."""
    command.upgrade(alembic_config(database_url), revision)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # The write-ahead log is kept in the file: set here once, so that the app's
        # connections (each asks for it: app.db.SQLITE_PRAGMAS) never switch the file's
        # journal mode, which SQLite refuses at once ("database is locked", no busy wait)
        # while another connection, such as the checkpointer's, is switching it too.
        with contextlib.closing(sqlite3.connect(url.database)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def revision(database_url: str, message: str, rev_id: str) -> None:
    """Autogenerate a migration from the models (for developers)."""
    command.revision(
        alembic_config(database_url), message=message, autogenerate=True, rev_id=rev_id
    )
