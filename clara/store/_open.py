"""Opening the store from the settings: engine, schema upgrade, secret box."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from ..config import Settings
from ._engine import database_url, make_engine
from ._inbox import prune_inbox
from ._migrate import upgrade
from ._secrets import SecretBox
from ._unit_of_work import Database

__all__ = ["INBOX_KEEP_DAYS", "Store", "open_store"]

logger = logging.getLogger(__name__)

#: Days the inbox keeps the key of a finished message: far longer than any platform re-delivers.
INBOX_KEEP_DAYS = 30


@dataclass
class Store:
    """The database and the keys that open its secrets."""

    database: Database
    secrets: SecretBox

    def close(self) -> None:
        self.database.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Connect, bring the schema up to date (unless told not to), load the keys.

    Raises:
        MigrationError: the schema could not be upgraded.
        SecretKeyError: the configured keys are unusable.
    """
    engine = make_engine(
        database_url(settings.database, settings.runtime.data_dir),
        pool_size=settings.database.pool_size,
        busy_timeout=settings.database.busy_timeout,
        statement_timeout=settings.database.statement_timeout,
    )
    if migrate:
        upgrade(engine)
    box = SecretBox.from_settings(settings.encryption, settings.runtime.data_dir)
    database = Database(engine)
    if migrate:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=INBOX_KEEP_DAYS)
        with database.unit_of_work() as session:
            pruned = prune_inbox(session, before)
        if pruned:
            logger.info("store: forgot %d inbox keys older than %d days", pruned, INBOX_KEEP_DAYS)
    return Store(database=database, secrets=box)
