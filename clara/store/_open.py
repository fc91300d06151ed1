"""Opening the store from the settings: data folder, engine, schema upgrade, secret box.

Whatever goes wrong here is a ``StoreError`` of one line that says where (the folder, the
SQLite file, PostgreSQL's host and port) and why, never with a password: ``run.py`` and the
``db``/``keys`` commands print it and exit, where they used to print pages of traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ..config import Settings
from ..errors import StoreError, StoreUnavailable
from ._engine import database_url, make_engine
from ._inbox import prune_inbox
from ._migrate import upgrade
from ._private_files import private_folder
from ._secrets import SecretBox
from ._unit_of_work import Database

__all__ = ["INBOX_KEEP_DAYS", "Store", "open_store"]

logger = logging.getLogger(__name__)

#: Days the inbox keeps the key of a finished message: far longer than any platform re-delivers.
INBOX_KEEP_DAYS = 30

#: A driver's explanation is cut here: enough for the cause, still one readable line.
_CAUSE_LENGTH = 300


@dataclass
class Store:
    """The database and the keys that open its secrets."""

    database: Database
    secrets: SecretBox

    def close(self) -> None:
        self.database.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Make the data folder private, connect, bring the schema up to date (unless told
    not to), load the keys.

    Raises:
        StoreError: the data folder cannot be created, or the database cannot be reached
            (the message names the folder, or the SQLite file, or PostgreSQL's host and
            port, and the cause).
        MigrationError: the schema could not be upgraded.
        SecretKeyError: the configured keys are unusable.
    """
    data_dir = settings.runtime.data_dir
    private_folder(data_dir)
    url = database_url(settings.database, data_dir)
    engine = make_engine(
        url,
        pool_size=settings.database.pool_size,
        busy_timeout=settings.database.busy_timeout,
        statement_timeout=settings.database.statement_timeout,
    )
    try:
        _connect_once(engine, url)
        if migrate:
            upgrade(engine)
        try:
            box = SecretBox.from_settings(settings.encryption, data_dir)
        except OSError as error:
            raise StoreError(
                f"cannot read or write the key file in {data_dir} (CLARA_DATA_DIR): "
                f"{error.strerror}"
            ) from None
        database = Database(engine)
        if migrate:
            before = dt.datetime.now(dt.UTC) - dt.timedelta(days=INBOX_KEEP_DAYS)
            with database.unit_of_work() as session:
                pruned = prune_inbox(session, before)
            if pruned:
                logger.info(
                    "store: forgot %d inbox keys older than %d days", pruned, INBOX_KEEP_DAYS
                )
    except BaseException:
        engine.dispose()
        raise
    return Store(database=database, secrets=box)


def _connect_once(engine: Engine, url: str) -> None:
    """Open and close one connection: the first place an unreachable database shows.

    Raises:
        StoreUnavailable: naming where the database is and why it cannot be reached.
    """
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        raise StoreUnavailable(f"cannot connect to {_where(url)}: {_cause(error, url)}") from error


def _where(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"the SQLite database {parsed.database}"
    host = parsed.host or parsed.query.get("host") or "the local socket"
    return f"PostgreSQL at {host}:{parsed.port or 5432} (database {parsed.database or '-'})"


def _cause(error: SQLAlchemyError, url: str) -> str:
    """The driver's own explanation on one line, without the password should it hold it."""
    original = getattr(error, "orig", None) or error
    cause = " ".join(str(original).split()) or type(original).__name__
    parsed = make_url(url)
    for password in (parsed.password, parsed.query.get("password")):
        if isinstance(password, str) and password:
            cause = cause.replace(password, "****")
    if len(cause) > _CAUSE_LENGTH:
        cause = cause[:_CAUSE_LENGTH] + "..."
    return cause
