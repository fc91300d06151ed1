"""Engines: SQLite on a file by default (WAL, busy timeout), PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from ..config import DatabaseSettings
from ..errors import ConfigError, StoreError
from ._private_files import private_database_file

__all__ = ["CONNECT_TIMEOUT", "database_url", "make_engine"]

#: Seconds a new PostgreSQL connection may take (libpq's default is to wait for the
#: system's TCP timeout, minutes, on a server that does not answer). A URL's own
#: ``?connect_timeout=`` wins.
CONNECT_TIMEOUT = 10


def database_url(settings: DatabaseSettings, data_dir: Path) -> str:
    """The SQLAlchemy URL: DATABASE_URL, or SQLite at ``data_dir/clara.db``."""
    if settings.url is None:
        return f"sqlite:///{(data_dir / 'clara.db').resolve()}"
    url = settings.url.reveal()
    # postgresql:// and postgres:// mean psycopg 3 here (SQLAlchemy's default is psycopg2).
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    busy_timeout: float = 5.0,
    statement_timeout: float = 30.0,
) -> Engine:
    """An engine whose pool is the bound on concurrent database work.

    SQLite files get WAL (readers never wait for the writer), a busy timeout, and foreign
    keys on; the file is created readable by its owner only (0600), and SQLite gives its
    ``-wal``/``-shm`` files the same mode (``_private_files``). PostgreSQL connections get a
    ``statement_timeout``: a trio caller that gives up cannot cancel a query running in its
    worker thread, so the server does, a ``connect_timeout``, and a ping on each checkout
    (``pool_pre_ping``; SQLite has none, see below). The pool never overflows: at most
    ``pool_size`` connections, so at most that many worker threads do database work at once.

    Raises:
        ConfigError: an in-memory SQLite database (it cannot be shared between threads).
        StoreError: the SQLite file or its folder cannot be created.
    """
    parsed = make_url(url)
    # A server connection can die while it sits in the pool (a restart, an idle timeout, a
    # failover): a ping on checkout finds out before the work does. A SQLite file cannot go
    # away like that, and its ping (a SELECT 1 on every checkout, in a thread contending for
    # the GIL) was a large share of each unit of work's time in the profile: SQLite skips it.
    options: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ConfigError(
                "DATABASE_URL: an in-memory SQLite database cannot be shared between "
                "threads; use a file (sqlite:///PATH)"
            )
        path = Path(database)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(
                f"cannot create the folder of the SQLite database {path}: {error.strerror}"
            ) from None
        private_database_file(path)
        options.update(
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
        )
    else:
        options.update(pool_size=pool_size, max_overflow=0, pool_timeout=30)
        if parsed.get_backend_name() == "postgresql":
            connect_args: dict[str, Any] = {}
            if "connect_timeout" not in parsed.query:
                connect_args["connect_timeout"] = CONNECT_TIMEOUT
            if statement_timeout > 0:
                milliseconds = int(statement_timeout * 1000)
                connect_args["options"] = f"-c statement_timeout={milliseconds}"
            options["connect_args"] = connect_args
    engine = create_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        milliseconds = int(busy_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection: Any, record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine
