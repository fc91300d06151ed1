"""Engines: SQLite on a file by default (WAL, busy timeout), PostgreSQL through psycopg 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from ..config import DatabaseSettings
from ..errors import ConfigError

__all__ = ["database_url", "make_engine"]


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
    keys on. PostgreSQL connections get a ``statement_timeout``: a trio caller that gives up
    cannot cancel a query running in its worker thread, so the server does, and a ping on
    each checkout (``pool_pre_ping``; SQLite has none, see below). The pool never
    overflows: at most ``pool_size`` connections, so at most that many worker threads do
    database work at once.
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
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        options.update(
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=0,
            connect_args={"check_same_thread": False, "timeout": busy_timeout},
        )
    else:
        options.update(pool_size=pool_size, max_overflow=0, pool_timeout=30)
        if parsed.get_backend_name() == "postgresql" and statement_timeout > 0:
            milliseconds = int(statement_timeout * 1000)
            options["connect_args"] = {"options": f"-c statement_timeout={milliseconds}"}
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
