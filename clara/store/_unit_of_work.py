"""The one way to use the database: a unit of work, from sync code or from trio."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

import trio
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ._health import StoreHealth, as_unavailable
from ._writer import (
    DEFAULT_BATCH_LIMIT,
    PendingWrite,
    Writer,
    WriterStatistics,
    prepare_engine,
)

__all__ = ["Database"]

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """Units of work over one engine.

    ``unit_of_work()`` commits when its block succeeds, rolls back when it raises, and
    always returns the connection to the pool. ``run(fn, ...)`` does the same in a worker
    thread, so trio code never blocks its event loop on the database; a ``CapacityLimiter``
    the size of the pool less the writer's connection keeps threads from queueing on the
    pool itself.

    ``write(fn, ...)`` and ``write_soon(fn, ...)`` hand a unit of work to the single writer
    instead: one thread that runs every write queued while it was busy in one transaction,
    each write in a savepoint of its own (group commit). Use them for the writes of the hot
    path; a write answers only once its transaction has committed.

    Args:
        engine: from ``make_engine``.
        write_batch_limit: writes one of the writer's transactions takes at most (default
            64): a bound on how long the last of a batch waits for the ones ahead of it.

    Raises:
        ValueError: ``write_batch_limit`` is below 1.
    """

    def __init__(self, engine: Engine, *, write_batch_limit: int = DEFAULT_BATCH_LIMIT) -> None:
        if write_batch_limit < 1:
            raise ValueError(
                f"write_batch_limit: expected an integer >= 1, got {write_batch_limit!r}"
            )
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        size = engine.pool.size() if hasattr(engine.pool, "size") else 5
        # One connection is the writer's while it runs a batch; the worker threads of run()
        # share the rest, so they do not queue on the pool behind it.
        self.limiter = trio.CapacityLimiter(max(1, size - 1))
        self._write_batch_limit = write_batch_limit
        prepare_engine(engine)
        self.health = StoreHealth()
        """The last outcome of a unit of work or a write: a readiness check's source."""
        # Guards the writer's start (on the first write) against dispose() stopping it.
        self._writer_lock = threading.Lock()
        self._writer: Writer | None = None

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
            try:
                with self.unit_of_work() as session:
                    value = function(session, *args, **kwargs)
            except Exception as error:
                unavailable = as_unavailable(error)
                self.health.failed(unavailable)
                if unavailable is error:
                    raise
                raise unavailable from error
            self.health.ok()
            return value

        return await trio.to_thread.run_sync(work, limiter=self.limiter)

    async def write(
        self, function: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``function(session, *args)`` on the writer thread; returns once it is committed.

        The function runs in a SAVEPOINT of a transaction it may share with other writes
        queued at the same time: it sees their changes and they see its own, in queue
        order. It must not commit or roll back the session. Its return value is usable
        after the session has closed (ORM objects come back detached, with what they had
        loaded).

        Cancellation: a caller cancelled before the write is queued writes nothing. Once
        queued, the write always runs and commits (or fails) as if awaited; a cancelled
        caller only loses its outcome.

        Raises:
            Exception: what ``function`` raised (only its own savepoint was rolled back), or
                what failed its whole transaction (BEGIN, the connection, COMMIT).
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        return await self.write_soon(function, *args, **kwargs).result()

    def write_soon(
        self, function: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> PendingWrite[T]:
        """Queue ``function(session, *args)`` for the writer now; await the handle later.

        Does not block and needs no ``await``: a caller can start a write the moment a
        message arrives and collect its outcome (``await pending.result()``) only where it
        needs it. The write runs whether or not anyone awaits the handle, as ``write``
        describes; writes run in the order they were queued. Until the handle is done,
        other units of work may not see the write.

        Starts the writer thread on the first write (and again after ``dispose``).
        """
        pending: PendingWrite[T] = PendingWrite(function, args, kwargs)
        with self._writer_lock:
            if self._writer is None:
                self._writer = Writer(self.engine, self._write_batch_limit, self.health)
            self._writer.submit(pending)
        return pending

    def write_statistics(self) -> WriterStatistics:
        """What the writer has done since it (last) started; all zero before the first write."""
        writer = self._writer
        return WriterStatistics() if writer is None else writer.statistics()

    def checked_out(self) -> int:
        """Connections currently out of the pool (0 when nothing is running)."""
        pool: Any = self.engine.pool
        return int(pool.checkedout()) if hasattr(pool, "checkedout") else 0

    def dispose(self) -> None:
        """Stop the writer (after it has run every write already queued), close the pool.

        Blocks until the writer thread has ended. The ``Database`` stays usable: the pool
        reconnects and the next write starts a new writer thread.
        """
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.stop()
        self.engine.dispose()
