"""Run Alembic migrations programmatically (no alembic.ini at the top level)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from app.config import ROOT


def alembic_config(database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to a revision. Blocking: call it from a thread inside a loop."""
    command.upgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str, rev_id: str) -> None:
    """Autogenerate a migration from the models (for developers)."""
    command.revision(
        alembic_config(database_url), message=message, autogenerate=True, rev_id=rev_id
    )
