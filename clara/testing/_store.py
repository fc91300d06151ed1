"""A throwaway store: a migrated SQLite database in a folder of its own, gone afterwards.

    with throwaway_database() as database:
        ...                                        # ChannelDependencies(database=database)

The tests' ``database`` fixture (``tests/conftest.py``) is this, in pytest's ``tmp_path``.
``throwaway_postgresql`` is the same idea on a PostgreSQL server: a database of its own,
dropped afterwards (``tests/store`` and ``bench.conversations`` use it).
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import trio
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from ..store import Database, PendingWrite, make_engine, upgrade

__all__ = ["throwaway_database", "throwaway_postgresql"]

P = ParamSpec("P")
T = TypeVar("T")


class _InlineDatabase(Database):
    """Units of work and writes in the trio thread: the test's clock sees no thread to wait for.

    Under ``autojump_clock`` (threshold 0) a worker thread counts as idleness, so virtual
    time would jump past deadlines while SQLite works. Run inline, a unit of work blocks the
    event loop for the millisecond it takes, and virtual times stay exact. Cancellation is
    as with the real ``run``: before the work starts, not during it.
    """

    async def run(
        self, function: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        await trio.lowlevel.checkpoint_if_cancelled()
        with self.unit_of_work() as session:
            result = function(session, *args, **kwargs)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return result

    def write_soon(
        self, function: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> PendingWrite[T]:
        """The write at once, in a unit of work of its own: no writer thread to wait for.

        ``write`` (inherited) then costs one checkpoint, as the real one does when the
        write is already done; cancellation drops only the outcome, as there.
        """
        try:
            with self.unit_of_work() as session:
                value = function(session, *args, **kwargs)
        except Exception as error:
            return PendingWrite.failed(error)
        return PendingWrite.completed(value)


@contextlib.contextmanager
def throwaway_database(folder: Path | None = None, *, threads: bool = False) -> Iterator[Database]:
    """A migrated SQLite ``Database`` at ``folder/clara.db``, disposed of on exit.

    Args:
        folder: where the file goes (pytest's ``tmp_path``); None: a temporary folder,
            removed on exit.
        threads: do units of work in worker threads, as in production (then use a
            ``mock_clock`` with ``autojump_threshold = 0.2``). By default they run in the
            trio thread, so ``autojump_clock`` gives exact virtual times.

    Raises:
        MigrationError: the schema could not be created.
    """
    place = (
        tempfile.TemporaryDirectory(prefix="clara-test-")
        if folder is None
        else contextlib.nullcontext(str(folder))
    )
    with place as where:
        engine = make_engine(f"sqlite:///{Path(where) / 'clara.db'}")
        upgrade(engine)
        database = Database(engine) if threads else _InlineDatabase(engine)
        try:
            yield database
        finally:
            database.dispose()


@contextlib.contextmanager
def throwaway_postgresql(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``server_url``, dropped on exit.

    Args:
        server_url: a URL (``postgresql://user@host:port/dbname``, with or without
            ``+psycopg``) whose user may create databases; ``dbname`` is only where the
            CREATE and DROP are sent from.

    Yields:
        The new database's SQLAlchemy URL (``postgresql+psycopg://...``), for ``make_engine``.

    Raises:
        psycopg.OperationalError: the server cannot be reached, or refused the CREATE.
    """
    import psycopg  # noqa: PLC0415 - only the PostgreSQL tests and benchmarks need it

    server = make_url(server_url)
    libpq = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"clara_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
