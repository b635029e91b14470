"""The migrations and the models describe the same database."""

from __future__ import annotations

import contextlib
import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import app.models  # noqa: F401 - registers every table
from app import migrate
from app.db import Base


def _differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrations__an_upgraded_database_matches_the_models(db_template):
    """Upgrading an empty database to head gives exactly the tables the models declare
    (on PostgreSQL too when SAFECE_DATABASE_URL is set): a column widened in a model
    without a migration, or a migration edited after it ran, shows up here."""
    url = db_template if isinstance(db_template, str) else f"sqlite+aiosqlite:///{db_template}"
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


def test_migrations__leave_a_sqlite_file_in_write_ahead_log_mode(tmp_path):
    """The journal mode is kept in the file, so no connection of the app has to switch it
    (SQLite refuses a switch at once while another connection is switching it too)."""
    path = tmp_path / "fresh.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")

    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert not (tmp_path / "fresh.db-wal").exists()
