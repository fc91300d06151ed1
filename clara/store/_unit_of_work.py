"""The one way to use the database: a unit of work, from sync code or from trio."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import trio
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database"]

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """Units of work over one engine.

    ``unit_of_work()`` commits when its block succeeds, rolls back when it raises, and
    always returns the connection to the pool. ``run(fn, ...)`` does the same in a worker
    thread, so trio code never blocks its event loop on the database; a ``CapacityLimiter``
    the size of the pool keeps threads from queueing on the pool itself.

    Args:
        engine: from ``make_engine``.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        size = engine.pool.size() if hasattr(engine.pool, "size") else 5
        self.limiter = trio.CapacityLimiter(max(1, size))

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session for one unit of work: commit on success, rollback on error, then close."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    async def run(
        self, function: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``function(session, *args)`` in a unit of work, in a worker thread.

        If the caller is cancelled the thread finishes its unit of work (a query cannot be
        interrupted from here; ``statement_timeout`` bounds it on PostgreSQL) and the
        result is dropped.
        """

        def work() -> T:
            with self.unit_of_work() as session:
                return function(session, *args, **kwargs)

        return await trio.to_thread.run_sync(work, limiter=self.limiter)

    def checked_out(self) -> int:
        """Connections currently out of the pool (0 when nothing is running)."""
        pool: Any = self.engine.pool
        return int(pool.checkedout()) if hasattr(pool, "checkedout") else 0

    def dispose(self) -> None:
        self.engine.dispose()
