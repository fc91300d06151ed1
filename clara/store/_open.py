"""Opening the store from the settings: engine, schema upgrade, secret box."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Settings
from ._engine import database_url, make_engine
from ._migrate import upgrade
from ._secrets import SecretBox
from ._unit_of_work import Database

__all__ = ["Store", "open_store"]


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
    return Store(database=Database(engine), secrets=box)
