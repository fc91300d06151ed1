"""A throwaway store: a migrated SQLite database in a folder of its own, gone afterwards.

    with throwaway_database() as database:
        ...                                        # ChannelDependencies(database=database)

The tests' ``database`` fixture (``tests/conftest.py``) is this, in pytest's ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import trio
from sqlalchemy.orm import Session

from ..store import Database, make_engine, upgrade

__all__ = ["throwaway_database"]

P = ParamSpec("P")
T = TypeVar("T")


class _InlineDatabase(Database):
    """Units of work in the trio thread: the test's clock sees no thread to wait for.

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
