"""Migrations with Alembic: ``python -m clara db upgrade``; ``run.py`` upgrades on start."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from ..errors import MigrationError

__all__ = ["MIGRATIONS", "current_revision", "head_revision", "upgrade"]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision``; return the revision reached.

    Raises:
        MigrationError: a migration failed (the message names the revision and the cause).
    """
    before = current_revision(engine)
    config = _config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except Exception as error:
        raise MigrationError(
            f"upgrading the database from {before or 'empty'} to {revision} failed: "
            f"{type(error).__name__}: {error}"
        ) from error
    after = current_revision(engine)
    if after != before:
        logger.info("database upgraded from %s to %s", before or "empty", after)
    return after or ""
